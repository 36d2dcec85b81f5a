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

/* SHA-256 of data into out (32 bytes), without EVP's per-call fetch. */
void cgw_sha256(const void *data, size_t length, unsigned char *out);

static inline uint32_t cgw_epollin(void) { return EPOLLIN; }
static inline uint32_t cgw_epollout(void) { return EPOLLOUT; }
static inline uint32_t cgw_epollerr(void) { return EPOLLERR; }
static inline uint32_t cgw_epollhup(void) { return EPOLLHUP; }
static inline uint32_t cgw_epollrdhup(void) { return EPOLLRDHUP; }
#endif
