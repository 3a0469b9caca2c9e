// The live view's framing of what a viewer sends (RfbClientStream): every message found whole, however the
// bytes arrive, each with its kind; what rote cannot frame ends the stream.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <rote/liveview/rfb_relay.h>

using namespace rote::runtime;
using K = RfbClientMessageKind;

namespace {

std::string bytes(std::initializer_list<int> values)
{
    std::string out;
    for (int v : values)
        out += static_cast<char>(v);
    return out;
}

// A viewer's session as noVNC sends it: the handshake, its set-up, then input and update requests.
std::string session()
{
    std::string s = "RFB 003.008\n" + bytes({1}) + bytes({1}); // version, security None, ClientInit (shared)
    s += bytes({0, 0, 0, 0, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0}); // SetPixelFormat
    s += bytes({2, 0, 0, 3, 0, 0, 0, 7, 0, 0, 0, 0, 0xff, 0xff, 0xfe, 0xfe}); // SetEncodings, 3 of them
    s += bytes({3, 0, 0, 0, 0, 0, 5, 0, 3, 32}); // FramebufferUpdateRequest
    s += bytes({5, 1, 0, 10, 0, 20}); // PointerEvent: left button at 10,20
    s += bytes({4, 1, 0, 0, 0, 0, 0, 0x61}); // KeyEvent: 'a' down
    s += bytes({255, 0, 0, 1, 0, 0, 0, 0x61, 0, 0, 0, 30}); // QEMU extended key event
    s += bytes({6, 0, 0, 0, 0, 0, 0, 5}) + "hello"; // ClientCutText
    s += bytes({6, 0, 0, 0, 0xff, 0xff, 0xff, 0xfc, 1, 2, 3, 4}); // extended clipboard: length -4
    s += bytes({248, 0, 0, 0, 0, 0, 0, 3, 2, 9, 9}); // ClientFence with 2 bytes of payload
    s += bytes({150, 1, 0, 0, 0, 0, 5, 0, 3, 32}); // EnableContinuousUpdates
    s += bytes({251, 0, 5, 0, 3, 32, 1, 0}) + std::string(16, '\0'); // SetDesktopSize, one screen
    s += bytes({250, 0, 1, 2}); // XVP shutdown
    s += bytes({255, 1, 0, 2, 1, 2, 0, 0, 0xac, 0x44}); // QEMU audio: set the format
    return s;
}

const std::vector<K> kSessionKinds = {K::handshake, K::handshake, K::handshake, K::set_pixel_format, K::set_encodings,
    K::update_request, K::pointer, K::key, K::qemu_key, K::cut_text, K::cut_text, K::fence, K::continuous_updates,
    K::set_desktop_size, K::xvp, K::qemu_audio};

} // namespace

TEST_CASE("a viewer's messages are framed whole whichever way the bytes arrive")
{
    const std::string all = session();
    for (size_t chunk : {all.size(), size_t(1), size_t(3), size_t(7), size_t(13)}) {
        CAPTURE(chunk);
        RfbClientStream stream;
        std::vector<RfbClientMessage> got;
        for (size_t at = 0; at < all.size(); at += chunk) {
            auto messages = stream.feed(std::string_view(all).substr(at, chunk));
            REQUIRE_MESSAGE(messages, (messages ? "" : messages.error().message()));
            got.insert(got.end(), messages->begin(), messages->end());
        }
        REQUIRE(got.size() == kSessionKinds.size());
        std::string joined;
        for (size_t i = 0; i < got.size(); ++i) {
            CHECK(got[i].kind == kSessionKinds[i]);
            joined += got[i].bytes;
        }
        CHECK(joined == all); // nothing lost, nothing added, in order
    }
}

TEST_CASE("view-only passes what shows the desktop and nothing that acts on it")
{
    for (K kind : {K::handshake, K::set_pixel_format, K::set_encodings, K::update_request, K::continuous_updates, K::fence})
        CHECK_FALSE(acts_on_desktop(kind));
    for (K kind : {K::key, K::pointer, K::cut_text, K::qemu_key, K::qemu_audio, K::set_desktop_size, K::xvp})
        CHECK(acts_on_desktop(kind));
}

TEST_CASE("a 3.3 viewer chooses no security type")
{
    RfbClientStream stream;
    auto got = stream.feed("RFB 003.003\n" + bytes({1}) + bytes({5, 0, 0, 1, 0, 1}));
    REQUIRE(got);
    REQUIRE(got->size() == 3);
    CHECK((*got)[1].kind == K::handshake); // ClientInit
    CHECK((*got)[2].kind == K::pointer);
}

TEST_CASE("what rote cannot frame ends the stream with the reason")
{
    auto refused = [](const std::string& after_handshake) {
        RfbClientStream stream;
        auto got = stream.feed("RFB 003.008\n" + bytes({1, 1}) + after_handshake);
        return got ? std::string() : got.error().message();
    };
    CHECK(refused(bytes({7, 0, 0, 0})).find("unknown type 7") != std::string::npos);
    CHECK(refused(bytes({255, 9})).find("unknown QEMU message") != std::string::npos);
    CHECK(refused(bytes({6, 0, 0, 0, 0x7f, 0, 0, 0})).find("clipboard of") != std::string::npos); // 2 GiB
    RfbClientStream vnc_auth;
    auto chose = vnc_auth.feed("RFB 003.008\n" + bytes({2}) + std::string(16, 'x'));
    REQUIRE_FALSE(chose);
    CHECK(chose.error().message().find("security type 2") != std::string::npos);
    RfbClientStream not_rfb;
    CHECK_FALSE(not_rfb.feed("GET / HTTP/1.1\r\n\r\n"));
}

TEST_CASE("the person's key and pointer messages are input events, and nothing else is")
{
    RfbClientStream stream;
    auto got = stream.feed(session());
    REQUIRE(got);
    std::vector<rote::InputEvent> events;
    for (const RfbClientMessage& m : *got) {
        if (auto e = input_event_of(m, 42))
            events.push_back(*e);
    }
    using Kind = rote::InputEvent::Kind;
    REQUIRE(events.size() == 3);
    CHECK(events[0] == rote::InputEvent {Kind::pointer, 42, {10, 20}, rote::buttons::left, 0, false});
    CHECK(events[1] == rote::InputEvent {Kind::key, 42, {}, 0, 0x61, true});
    CHECK(events[2] == rote::InputEvent {Kind::key, 42, {}, 0, 0x61, true});
    CHECK(input_event_of({K::key, bytes({4, 0, 0, 0, 0, 0, 0xff, 0x0d})}, 7)
        == rote::InputEvent {Kind::key, 7, {}, 0, 0xff0d, false});
    CHECK(input_event_of({K::pointer, bytes({5, 0x10, 0x01, 0x00, 0x02, 0x00})}, 0)->at == rote::Point {256, 512});
}
