#include <rote/scheduler/alerts.h>

#include <csignal>
#include <cstring>
#include <string_view>
#include <vector>
#include <fcntl.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <rote/base/log.h>

namespace rote::scheduler {

using namespace std::chrono;

std::string alert_signature(const std::string& key, const std::string& timestamp, const std::string& body)
{
    const std::string message = timestamp + "." + body;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(message.data()),
        message.size(), mac, &length);
    static const char* const kHex = "0123456789abcdef";
    std::string out = "sha256=";
    for (unsigned int i = 0; i < length; ++i) {
        out += kHex[mac[i] >> 4];
        out += kHex[mac[i] & 15];
    }
    return out;
}

Alerter::Alerter(AlertOptions options)
    : m_options(std::move(options))
    , m_thread([this](std::stop_token stop) { loop(stop); })
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

Alerter::~Alerter()
{
    flush(10s);
    m_thread.request_stop();
    m_changed.notify_all();
    m_thread.join();
    std::lock_guard lock(m_mutex);
    if (!m_queue.empty() && m_options.log)
        m_options.log(std::to_string(m_queue.size()) + " alert(s) not sent: the scheduler stopped");
}

void Alerter::send(Alert alert)
{
    {
        std::lock_guard lock(m_mutex);
        m_queue.push_back(std::move(alert));
    }
    m_changed.notify_all();
}

void Alerter::flush(milliseconds limit)
{
    std::unique_lock lock(m_mutex);
    m_changed.wait_for(lock, limit, [&] { return m_queue.empty() && !m_busy; });
}

int Alerter::delivered() const
{
    std::lock_guard lock(m_mutex);
    return m_delivered;
}

int Alerter::dropped() const
{
    std::lock_guard lock(m_mutex);
    return m_dropped;
}

void Alerter::loop(std::stop_token stop)
{
    // A command that exits without reading its stdin makes our write fail with EPIPE, not kill rote.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    while (true) {
        Alert alert;
        {
            std::unique_lock lock(m_mutex);
            if (!m_changed.wait(lock, stop, [&] { return !m_queue.empty(); }))
                return;
            alert = std::move(m_queue.front());
            m_queue.pop_front();
            m_busy = true;
        }
        deliver(alert, stop);
        {
            std::lock_guard lock(m_mutex);
            m_busy = false;
        }
        m_changed.notify_all();
    }
}

void Alerter::deliver(const Alert& alert, const std::stop_token& stop)
{
    const auto attempt = [&](const char* receiver, auto&& send_once) {
        auto wait = m_options.backoff;
        std::string why;
        for (int i = 1; i <= m_options.attempts; ++i) {
            if (send_once(why)) {
                std::lock_guard lock(m_mutex);
                ++m_delivered;
                return;
            }
            if (m_options.log)
                m_options.log("alert " + alert.event + " of schedule " + alert.schedule + " to its " + receiver + ": attempt "
                    + std::to_string(i) + " of " + std::to_string(m_options.attempts) + " failed: " + why);
            if (i == m_options.attempts || stop.stop_requested())
                break;
            std::mutex sleep_mutex;
            std::unique_lock sleep_lock(sleep_mutex);
            std::condition_variable_any().wait_for(sleep_lock, stop, wait, [] { return false; });
            wait *= 2;
        }
        std::lock_guard lock(m_mutex);
        ++m_dropped;
    };
    if (!alert.webhook.empty())
        attempt("webhook", [&](std::string& why) { return post(alert, why); });
    if (!alert.command.empty())
        attempt("command", [&](std::string& why) { return run_command(alert, why); });
}

namespace {

size_t discard(char*, size_t size, size_t count, void*) { return size * count; }

} // namespace

bool Alerter::post(const Alert& alert, std::string& why) const
{
    CURL* curl = curl_easy_init();
    if (!curl) {
        why = "libcurl could not start";
        return false;
    }
    const std::string timestamp = std::to_string(duration_cast<seconds>(system_clock::now().time_since_epoch()).count());
    curl_slist* headers = nullptr;
    for (const std::string& h : {std::string("Content-Type: application/json"), "X-Rote-Event: " + alert.event,
             "X-Rote-Timestamp: " + timestamp, "X-Rote-Signature: " + alert_signature(m_options.key, timestamp, alert.body)})
        headers = curl_slist_append(headers, h.c_str());
    curl_easy_setopt(curl, CURLOPT_URL, alert.webhook.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, alert.body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(alert.body.size()));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, static_cast<long>(m_options.timeout.count()));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "rote-scheduler");
    const CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK) {
        why = curl_easy_strerror(rc);
        return false;
    }
    if (status < 200 || status > 299) {
        why = "it answered " + std::to_string(status);
        return false;
    }
    return true;
}

bool Alerter::run_command(const Alert& alert, std::string& why) const
{
    // Everything the child needs is made before fork: between fork and exec a child of this multi-threaded
    // process may call only async-signal-safe functions (setenv or malloc there can wait forever on a lock
    // another thread held at the fork; under ASan one did, and the alert was dropped after its timeout).
    std::vector<std::string> variables {"ROTE_ALERT_EVENT=" + alert.event, "ROTE_ALERT_SCHEDULE=" + alert.schedule};
    for (char** e = environ; *e != nullptr; ++e) {
        const std::string_view v(*e);
        if (!v.starts_with("ROTE_ALERT_EVENT=") && !v.starts_with("ROTE_ALERT_SCHEDULE="))
            variables.emplace_back(v);
    }
    std::vector<char*> envp;
    for (auto& v : variables)
        envp.push_back(v.data());
    envp.push_back(nullptr);
    const char* argv[] = {"sh", "-c", alert.command.c_str(), nullptr};
    int in[2];
    if (::pipe2(in, O_CLOEXEC) != 0) {
        why = std::string("pipe: ") + std::strerror(errno);
        return false;
    }
    const pid_t pid = ::fork();
    if (pid < 0) {
        ::close(in[0]);
        ::close(in[1]);
        why = std::string("fork: ") + std::strerror(errno);
        return false;
    }
    if (pid == 0) {
        ::dup2(in[0], 0);
        const int null = ::open("/dev/null", O_WRONLY);
        if (null >= 0)
            ::dup2(null, 1);
        ::execve("/bin/sh", const_cast<char* const*>(argv), envp.data());
        _exit(127);
    }
    ::close(in[0]);
    size_t written = 0;
    while (written < alert.body.size()) {
        const ssize_t n = ::write(in[1], alert.body.data() + written, alert.body.size() - written);
        if (n <= 0)
            break;
        written += static_cast<size_t>(n);
    }
    ::close(in[1]);
    const auto deadline = steady_clock::now() + m_options.timeout;
    int status = 0;
    while (true) {
        const pid_t done = ::waitpid(pid, &status, WNOHANG);
        if (done == pid)
            break;
        if (steady_clock::now() >= deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            why = "it did not exit within " + std::to_string(m_options.timeout.count()) + " s";
            return false;
        }
        std::this_thread::sleep_for(20ms);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        why = WIFEXITED(status) ? "it exited " + std::to_string(WEXITSTATUS(status)) : std::string("it was killed by a signal");
        return false;
    }
    return true;
}

} // namespace rote::scheduler
