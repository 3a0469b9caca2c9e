#include <rote/egress/tls_authority.h>

#include <map>
#include <mutex>
#include <random>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <boost/asio/ip/address.hpp>

#include <rote/base/base64.h>

namespace rote::runtime {

namespace {

struct KeyFree {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertFree {
    void operator()(X509* c) const { X509_free(c); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;

Error ssl_error(const std::string& what) { return Error(Error::Code::internal, "TLS authority: " + what); }

Key new_key()
{
    return Key(EVP_EC_gen("P-256"));
}

std::string pem_of(X509* cert)
{
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, cert);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    return out;
}

std::string pem_of(EVP_PKEY* key)
{
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    return out;
}

bool add_extension(X509* cert, X509* issuer, int nid, const std::string& value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (!ext)
        return false;
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return true;
}

// A certificate for `subject_key`, valid from an hour ago for a day, with a random serial.
Cert new_cert(EVP_PKEY* subject_key, const std::string& common_name)
{
    Cert cert(X509_new());
    X509_set_version(cert.get(), 2);
    std::random_device random;
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), static_cast<long>(random() & 0x7fffffff));
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
    X509_set_pubkey(cert.get(), subject_key);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("rote sandbox"), -1, -1, 0);
    X509_NAME_add_entry_by_txt(
        name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0);
    return cert;
}

} // namespace

struct TlsAuthority::Impl {
    Key key;
    Cert cert;
    Key leaf_key; // one key for every leaf of this authority
    std::string spki;
    std::mutex mutex;
    std::map<std::string, Leaf> leaves;
};

TlsAuthority::TlsAuthority(std::unique_ptr<Impl> impl)
    : m_impl(std::move(impl))
{
}
TlsAuthority::~TlsAuthority() = default;

Result<std::shared_ptr<TlsAuthority>> TlsAuthority::make(const std::string& name)
{
    auto impl = std::make_unique<Impl>();
    impl->key = new_key();
    impl->leaf_key = new_key();
    if (!impl->key || !impl->leaf_key)
        return ssl_error("cannot make an EC key");
    impl->cert = new_cert(impl->key.get(), "rote sandbox CA " + name);
    X509_set_issuer_name(impl->cert.get(), X509_get_subject_name(impl->cert.get()));
    if (!add_extension(impl->cert.get(), impl->cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0")
        || !add_extension(impl->cert.get(), impl->cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign")
        || !add_extension(impl->cert.get(), impl->cert.get(), NID_subject_key_identifier, "hash"))
        return ssl_error("cannot make the CA's extensions");
    if (X509_sign(impl->cert.get(), impl->key.get(), EVP_sha256()) == 0)
        return ssl_error("cannot sign the CA certificate");
    // SHA-256 of the DER SubjectPublicKeyInfo, base64.
    unsigned char* der = nullptr;
    const int len = i2d_PUBKEY(impl->key.get(), &der);
    if (len <= 0)
        return ssl_error("cannot encode the CA's public key");
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    EVP_Digest(der, static_cast<std::size_t>(len), digest, &digest_len, EVP_sha256(), nullptr);
    OPENSSL_free(der);
    impl->spki = base64_encode(std::span<const std::uint8_t>(digest, digest_len));
    return std::shared_ptr<TlsAuthority>(new TlsAuthority(std::move(impl)));
}

const std::string& TlsAuthority::spki_hash() const { return m_impl->spki; }

std::string TlsAuthority::certificate_pem() const { return pem_of(m_impl->cert.get()); }

Result<TlsAuthority::Leaf> TlsAuthority::leaf(const std::string& host)
{
    std::lock_guard lock(m_impl->mutex);
    if (auto it = m_impl->leaves.find(host); it != m_impl->leaves.end())
        return it->second;
    Cert cert = new_cert(m_impl->leaf_key.get(), host);
    X509_set_issuer_name(cert.get(), X509_get_subject_name(m_impl->cert.get()));
    boost::system::error_code ec;
    boost::asio::ip::make_address(host, ec);
    const std::string san = (ec ? "DNS:" : "IP:") + host;
    if (!add_extension(cert.get(), m_impl->cert.get(), NID_subject_alt_name, san)
        || !add_extension(cert.get(), m_impl->cert.get(), NID_basic_constraints, "critical,CA:FALSE")
        || !add_extension(cert.get(), m_impl->cert.get(), NID_ext_key_usage, "serverAuth")
        || !add_extension(cert.get(), m_impl->cert.get(), NID_authority_key_identifier, "keyid:always"))
        return ssl_error("cannot make the extensions of a certificate for " + host);
    if (X509_sign(cert.get(), m_impl->key.get(), EVP_sha256()) == 0)
        return ssl_error("cannot sign a certificate for " + host);
    Leaf leaf {pem_of(cert.get()) + pem_of(m_impl->cert.get()), pem_of(m_impl->leaf_key.get())};
    m_impl->leaves[host] = leaf;
    return leaf;
}

} // namespace rote::runtime
