#include <rote/session/session.h>

#include <utility>

#include <random>
#include <thread>

#include <rote/sandbox/qemu.h>

namespace rote::runtime {

namespace fs = std::filesystem;

std::string url_host(std::string_view url)
{
    for (std::string_view scheme : {"http://", "https://"}) {
        if (!url.starts_with(scheme))
            continue;
        std::string_view rest = url.substr(scheme.size());
        rest = rest.substr(0, rest.find_first_of("/?#"));
        if (size_t at = rest.rfind('@'); at != std::string_view::npos)
            rest = rest.substr(at + 1);
        if (rest.starts_with('['))
            return std::string(rest.substr(1, rest.find(']') - 1));
        return std::string(rest.substr(0, rest.find(':')));
    }
    return {};
}

Result<std::unique_ptr<Session>> Session::start(const SessionSpec& spec)
{
    if (spec.provider != "local" && spec.provider != "qemu")
        return Error(Error::Code::unsupported,
            "sandbox provider '" + spec.provider + "' is not available (local or qemu)");
    // The browser is pointed at the web through the proxy: a file: URL would show it the sandbox's own files,
    // a javascript: or data: URL would run a script no site served.
    if (spec.start_url != "about:blank" && url_host(spec.start_url).empty())
        return Error(Error::Code::invalid_argument,
            "the start URL must be http:// or https:// with a host, or about:blank (not '" + spec.start_url + "')");
    const bool vm = spec.provider == "qemu";
    std::unique_ptr<Session> session(new Session);
    session->m_spec = spec;
    if (session->m_spec.allowlist.empty()) {
        std::string host = url_host(spec.start_url);
        if (!host.empty())
            session->m_spec.allowlist.push_back(host);
    }
    fs::path root = ROTE_TRY(runtime_root());
    std::random_device random;
    std::string name = "proxy-" + std::to_string(random()) + std::to_string(random() % 1000);
    EgressProxyOptions proxy;
    proxy.socket_path = root / (name + ".sock");
    proxy.log_path = root / (name + ".log");
    proxy.allowlist = session->m_spec.allowlist;
    proxy.routes = spec.routes;
    proxy.capture_limit = spec.capture_limit;
    proxy.upstream_ca_file = spec.upstream_ca_file;
    // HTTPS captured too (local sandboxes): a CA of this sandbox's own, trusted by its browser alone. The qemu
    // guest's browser has its flags baked into its image: its HTTPS stays tunnels.
    if (spec.capture_limit > 0 && !vm) {
        proxy.intercept = ROTE_TRY(TlsAuthority::make(name));
        session->m_authority = proxy.intercept;
        session->m_trusted_spki = proxy.intercept->spki_hash();
    }
    if (vm) {
        proxy.start_url = spec.start_url; // a restored VM's waiting page asks the proxy where to go
        proxy.hold_start = spec.hold_start; // ... or waits, ready, until a run names it
    }
    session->m_proxy_log = proxy.log_path;
    session->m_proxy = ROTE_TRY(EgressProxy::start(proxy));

    SandboxOptions options;
    options.start_url = spec.start_url;
    options.width = spec.width;
    options.height = spec.height;
    options.scale = spec.scale;
    options.window = spec.window;
    options.proxy_socket = session->m_proxy->socket_path();
    options.trusted_spki = session->m_trusted_spki;
    // If we die without stopping, the sandbox's reaper removes the proxy's files with the sandbox's own.
    options.cleanup_paths = {proxy.socket_path, proxy.log_path};
    if (!vm) {
        session->m_sandbox = ROTE_TRY(start_local_sandbox(options));
        return session;
    }
    options.image = spec.image;
    options.keep = spec.keep;
    options.progress = spec.progress;
    session->m_sandbox = ROTE_TRY(start_qemu_sandbox(options));
    if (spec.hold_start)
        return session; // it waits on its waiting page until release_start()
    ROTE_TRY(session->wait_for_start());
    return session;
}

// Once the browser has left its waiting page for the start URL (well within a second of the restore, or of
// the release; the page then loads as in any browser).
Result<void> Session::wait_for_start()
{
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (m_proxy->start_redirects() == 0) {
        if (!m_sandbox->alive())
            return Error(Error::Code::io, "the VM " + m_sandbox->id() + " exited while starting");
        if (std::chrono::steady_clock::now() > deadline)
            return Error(Error::Code::timeout, "the VM's browser did not ask for its start page within 30 s");
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return {};
}

Result<void> Session::release_start(const std::string& url)
{
    if (!m_spec.hold_start)
        return Error(Error::Code::conflict, "this session's start is not held");
    ROTE_TRY(m_proxy->release_start(url));
    return wait_for_start();
}

Result<void> Session::stop()
{
    Result<void> result;
    if (m_sandbox)
        result = m_sandbox->destroy();
    m_sandbox.reset();
    m_proxy.reset(); // removes its socket
    std::error_code ec;
    if (!m_proxy_log.empty())
        fs::remove(m_proxy_log, ec);
    if (auto callback = std::exchange(m_on_stop, {}))
        callback();
    return result;
}

Session::~Session() { (void)stop(); }

} // namespace rote::runtime
