#include <rote/base/base64.h>

#include <openssl/evp.h>

namespace rote {

std::string base64_encode(std::span<const std::uint8_t> data)
{
    std::string out(4 * ((data.size() + 2) / 3), '\0');
    const int n
        = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data.data(), static_cast<int>(data.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

Result<std::vector<std::uint8_t>> base64_decode(std::string_view text)
{
    // EVP_DecodeBlock accepts some sloppiness (leading/trailing whitespace) and reports padding as
    // zero bytes, so validate the alphabet and length here and strip the padding ourselves.
    if (text.size() % 4 != 0)
        return Error(Error::Code::invalid_argument, "base64 length is not a multiple of 4");
    std::size_t padding = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        const bool alpha
            = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
        if (c == '=' && i + 2 >= text.size()) {
            ++padding;
            continue;
        }
        if (!alpha || padding > 0)
            return Error(Error::Code::invalid_argument, "base64 has a character outside its alphabet");
    }
    std::vector<std::uint8_t> out(3 * text.size() / 4);
    if (text.empty())
        return out;
    const int n = EVP_DecodeBlock(
        out.data(), reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
    if (n < 0)
        return Error(Error::Code::invalid_argument, "base64 does not decode");
    out.resize(static_cast<std::size_t>(n) - padding);
    return out;
}

} // namespace rote
