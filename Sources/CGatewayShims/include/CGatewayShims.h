#ifndef CGATEWAYSHIMS_H
#define CGATEWAYSHIMS_H
/* Only what Swift's Glibc module does not expose. Every symbol is prefixed cgw_. */
#include <stdint.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

/* accept4 needs _GNU_SOURCE, which must not leak into the module header (see shims.c). */
int cgw_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);

/* mallopt(M_MMAP_THRESHOLD, bytes): <malloc.h> is not in Swift's Glibc module. */
int cgw_set_mmap_threshold(int bytes);
/* malloc_trim(0): gives freed heap pages back to the system. */
int cgw_trim_heap(void);
/* mallinfo2().fordblks: bytes held free inside malloc's arenas, summed over all of them. */
size_t cgw_heap_free_bytes(void);
/* SIGPROF writes one line to stderr and is otherwise ignored (Swift's crash handler needs it unblocked). */
int cgw_note_and_ignore_sigprof(void);
/* SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGABRT sent by another process with kill(2) are logged and
   ignored; a real fault or abort() still reaches the handler installed before (Swift's crash handler). */
int cgw_ignore_fault_signals_sent_with_kill(void);

/* SHA-256 of data into out (32 bytes), without EVP's per-call fetch. */
void cgw_sha256(const void *data, size_t length, unsigned char *out);
/* CRC-32C (Castagnoli) of data, as iSCSI and ext4 compute it: the journal's record checksum. */
uint32_t cgw_crc32c(const void *data, size_t length);
/* SHA-1 into out (20 bytes): the name Redis gives a script. */
void cgw_sha1(const void *data, size_t length, unsigned char *out);
/* AES-256-GCM, 12-byte nonce, 16-byte tag after the ciphertext; -1 on failure or a wrong tag. */
int cgw_aes256gcm_seal(const unsigned char *key, const unsigned char *nonce, const unsigned char *aad, int aad_length,
                       const unsigned char *plain, int length, unsigned char *out);
int cgw_aes256gcm_open(const unsigned char *key, const unsigned char *nonce, const unsigned char *aad, int aad_length,
                       const unsigned char *sealed, int length, unsigned char *out);

static inline uint32_t cgw_epollin(void) { return EPOLLIN; }
static inline uint32_t cgw_epollout(void) { return EPOLLOUT; }
static inline uint32_t cgw_epollerr(void) { return EPOLLERR; }
static inline uint32_t cgw_epollhup(void) { return EPOLLHUP; }
static inline uint32_t cgw_epollrdhup(void) { return EPOLLRDHUP; }

/* ---- OpenSSL: macros that do not import into Swift, and the callbacks that need OSSL_PARAM. ---- */
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <nghttp2/nghttp2.h>

static inline uint64_t cgw_ssl_server_options(void) {
    return SSL_OP_NO_SSLv3 | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION
         | SSL_OP_SINGLE_ECDH_USE;
}
static inline uint64_t cgw_ssl_client_options(void) { return SSL_OP_NO_SSLv3 | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION; }
static inline long cgw_ssl_ctx_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }
static inline int cgw_ssl_ctx_set_min_proto_version(SSL_CTX *ctx, int version) { return (int)SSL_CTX_set_min_proto_version(ctx, version); }
static inline long cgw_ssl_ctx_set_session_cache_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_session_cache_mode(ctx, mode); }
static inline int cgw_ssl_ctx_set1_groups_list(SSL_CTX *ctx, const char *list) { return (int)SSL_CTX_set1_groups_list(ctx, list); }
static inline void cgw_ssl_ctx_set_read_ahead(SSL_CTX *ctx, int yes) { SSL_CTX_set_read_ahead(ctx, yes); }
static inline int cgw_ssl_set_tlsext_host_name(SSL *ssl, const char *name) { return (int)SSL_set_tlsext_host_name(ssl, name); }
static inline int cgw_ssl_ctx_set_servername_callback(SSL_CTX *ctx, int (*callback)(SSL *, int *, void *), void *argument) {
    SSL_CTX_set_tlsext_servername_arg(ctx, argument);
    return (int)SSL_CTX_set_tlsext_servername_callback(ctx, callback);
}
static inline void cgw_openssl_free(void *pointer) { OPENSSL_free(pointer); }

/* Drains this thread's OpenSSL error queue into buffer as "reason; reason"; returns the length. */
size_t cgw_ssl_errors(char *buffer, size_t length);

/* The first certificate in a PEM file: 0 when it is valid now, 1 expired, 2 not yet valid, -1 not a
   certificate. subject gets its subject line, bound its notAfter (or notBefore when 2) as text. */
int cgw_pem_certificate_validity(const char *path, char *subject, size_t subjectLength, char *bound, size_t boundLength);

/* The subject's common name of the peer certificate into buffer; 0 when there is none. */
size_t cgw_ssl_peer_common_name(const SSL *ssl, char *buffer, size_t length);

/* Session-ticket keys shared by every context of a listener (and kept across reloads), so that
   tickets stay valid while keys rotate: the newest key seals, the older ones still open. */
typedef struct cgw_ticket_keys cgw_ticket_keys;
cgw_ticket_keys *cgw_ticket_keys_new(void);
void cgw_ticket_keys_free(cgw_ticket_keys *keys);
int cgw_ticket_keys_rotate(cgw_ticket_keys *keys);
int cgw_ticket_keys_install(SSL_CTX *ctx, cgw_ticket_keys *keys);

/* NGHTTP2_MAKE_NV is a struct-initialiser macro. nghttp2 copies name and value (no NO_COPY flags):
   the Swift arrays they point into do not outlive the submit call. */
static inline nghttp2_nv cgw_nv(const uint8_t *name, size_t nameLength, const uint8_t *value, size_t valueLength) {
    nghttp2_nv nv = { (uint8_t *)name, (uint8_t *)value, nameLength, valueLength, NGHTTP2_NV_FLAG_NONE };
    return nv;
}
#endif
