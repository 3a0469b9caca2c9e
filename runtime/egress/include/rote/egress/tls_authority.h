#pragma once

// A certificate authority of one sandbox's own (docs/api.md, "HTTPS"): the egress proxy answers that
// sandbox's HTTPS in its sites' names with certificates it mints here, so that it can capture what passes;
// the sandbox's browser alone trusts it (by its key's hash, spki_hash()), and only for as long as the
// sandbox lives. Made anew per sandbox, in memory only: its key is never written anywhere.

#include <memory>
#include <string>

#include <rote/base/result.h>

namespace rote::runtime {

class TlsAuthority {
public:
    // A fresh authority: an EC P-256 key and a self-signed CA certificate, valid for a day, named after `name`.
    static Result<std::shared_ptr<TlsAuthority>> make(const std::string& name);
    ~TlsAuthority();
    TlsAuthority(const TlsAuthority&) = delete;
    TlsAuthority& operator=(const TlsAuthority&) = delete;

    // The base64 SHA-256 of the certificate's SubjectPublicKeyInfo: what Chromium's
    // --ignore-certificate-errors-spki-list takes.
    const std::string& spki_hash() const;
    // The CA certificate, PEM.
    std::string certificate_pem() const;

    // A certificate for `host` (a name or an IP address) signed by this authority, with the key it certifies:
    // PEM, the leaf then the authority (the chain a server sends). Minted once per host, then kept.
    struct Leaf {
        std::string chain_pem;
        std::string key_pem;
    };
    Result<Leaf> leaf(const std::string& host);

    struct Impl;

private:
    explicit TlsAuthority(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

} // namespace rote::runtime
