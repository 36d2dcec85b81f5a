#define _GNU_SOURCE
/* SHA256_Init and friends are deprecated in OpenSSL 3 in favour of EVP, whose per-call algorithm
   fetch takes a global lock; the session table hashes a token on every request. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <sys/socket.h>
#include "CGatewayShims.h"

int cgw_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
    return accept4(fd, addr, len, flags);
}

#include <openssl/sha.h>

void cgw_sha256(const void *data, size_t length, unsigned char *out) {
    SHA256_CTX context;
    SHA256_Init(&context);
    SHA256_Update(&context, data, length);
    SHA256_Final(out, &context);
}
