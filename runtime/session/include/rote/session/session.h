#pragma once

// A sandbox together with its egress proxy: what a run, or `rote sandbox start`, needs to give an agent a
// computer of its own whose only way out is the allowlist.

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <rote/base/result.h>
#include <rote/egress/egress_proxy.h>
#include <rote/sandbox/sandbox.h>

namespace rote::runtime {

struct SessionSpec {
    std::string provider = "local";
    std::string start_url = "about:blank";
    // Hosts the sandbox may reach. Empty: only the start URL's host.
    std::vector<std::string> allowlist;
    std::map<std::string, std::string> routes; // see EgressProxyOptions::routes
    int width = 1280;
    int height = 800;
    double scale = 1.0; // SandboxOptions::scale
    BrowserWindow window = BrowserWindow::normal;
    // qemu only (SandboxOptions): the guest image (empty: the default), a kept sandbox's name, and what a
    // long start is doing.
    std::filesystem::path image;
    std::string keep;
    std::function<void(const std::string&)> progress;
    // qemu: the restored VM waits on its waiting page until proxy().release_start() names the page to go to
    // (a warm pool's VM); start_url is then only for the allowlist.
    bool hold_start = false;
    // EgressProxyOptions::capture_limit: above 0, the proxy keeps each plain-http exchange (API plans).
    std::size_t capture_limit = 0;
    // A CA the proxy trusts for sites beside the system's (EgressProxyOptions::upstream_ca_file).
    std::filesystem::path upstream_ca_file;
};

// The host of an http(s) URL ("http://registry.example.test:8080/x" -> "registry.example.test"); empty for
// other schemes.
std::string url_host(std::string_view url);

// Non-copyable. Destroying it destroys the sandbox, then stops the proxy.
class Session {
public:
    // Starts the proxy (its socket and JSON-lines log in the runtime root, removed with the sandbox), then
    // the sandbox.
    static Result<std::unique_ptr<Session>> start(const SessionSpec& spec);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    Sandbox& sandbox() { return *m_sandbox; }
    EgressProxy& proxy() { return *m_proxy; }
    const SessionSpec& spec() const { return m_spec; }
    const std::filesystem::path& proxy_log() const { return m_proxy_log; }
    // The certificate authority its proxy opens HTTPS with, which its browser alone trusts (capture on, local
    // provider); null otherwise.
    const std::shared_ptr<TlsAuthority>& authority() const { return m_authority; }
    // Destroys the sandbox and stops the proxy, removing their files; idempotent.
    Result<void> stop();
    // A VM started with its start held (SessionSpec::hold_start, a warm pool's): its waiting page is sent to
    // `url`; returns once the browser has asked for it.
    Result<void> release_start(const std::string& url);
    // Called once when the session stops (stop() or destruction): the warm pool learns that a VM it handed
    // out is gone.
    void on_stop(std::function<void()> callback) { m_on_stop = std::move(callback); }

private:
    Session() = default;
    Result<void> wait_for_start();
    SessionSpec m_spec;
    std::unique_ptr<EgressProxy> m_proxy;
    std::unique_ptr<Sandbox> m_sandbox;
    std::filesystem::path m_proxy_log;
    std::string m_trusted_spki; // its own CA's, which its browser trusts (capture of HTTPS)
    std::shared_ptr<TlsAuthority> m_authority;
    std::function<void()> m_on_stop;
};

} // namespace rote::runtime
