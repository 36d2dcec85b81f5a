#define _GNU_SOURCE
#include <sys/socket.h>
#include "CGatewayShims.h"

int cgw_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
    return accept4(fd, addr, len, flags);
}

#include <string.h>

const void *cgw_memmem(const void *haystack, size_t haystack_len, const void *needle, size_t needle_len) {
    return memmem(haystack, haystack_len, needle, needle_len);
}
