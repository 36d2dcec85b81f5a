#define _GNU_SOURCE
/* SHA256_Init and friends are deprecated in OpenSSL 3 in favour of EVP, whose per-call algorithm
   fetch takes a global lock; the session table hashes a token on every request. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <malloc.h>
#include <signal.h>
#include <unistd.h>
#include <sys/socket.h>
#include <fcntl.h>
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

#include <string.h>
#include <time.h>
#include <pthread.h>
#include <stdlib.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/pem.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

size_t cgw_ssl_errors(char *buffer, size_t length) {
    size_t used = 0;
    unsigned long code;
    if (length) buffer[0] = 0;
    while ((code = ERR_get_error()) != 0) {
        if (used + 4 >= length) continue;
        if (used) { buffer[used++] = ';'; buffer[used++] = ' '; buffer[used] = 0; }
        const char *reason = ERR_reason_error_string(code);
        if (reason) {
            strncpy(buffer + used, reason, length - used - 1);
            buffer[length - 1] = 0;
        } else {
            ERR_error_string_n(code, buffer + used, length - used);
        }
        used += strlen(buffer + used);
    }
    return used;
}

static void cgw_time_text(const ASN1_TIME *time, char *buffer, size_t length) {
    struct tm parts;
    if (!length) return;
    buffer[0] = 0;
    if (ASN1_TIME_to_tm(time, &parts) == 1) strftime(buffer, length, "%Y-%m-%d %H:%M:%S UTC", &parts);
}

int cgw_pem_certificate_validity(const char *path, char *subject, size_t subjectLength, char *bound, size_t boundLength) {
    BIO *file = BIO_new_file(path, "r");
    if (!file) return -1;
    X509 *certificate = PEM_read_bio_X509(file, NULL, NULL, NULL);
    BIO_free(file);
    if (!certificate) return -1;
    if (subjectLength) {
        X509_NAME_oneline(X509_get_subject_name(certificate), subject, (int)subjectLength);
    }
    int result = 0;
    if (X509_cmp_current_time(X509_get0_notAfter(certificate)) < 0) result = 1;
    else if (X509_cmp_current_time(X509_get0_notBefore(certificate)) > 0) result = 2;
    cgw_time_text(result == 2 ? X509_get0_notBefore(certificate) : X509_get0_notAfter(certificate), bound, boundLength);
    X509_free(certificate);
    return result;
}

size_t cgw_ssl_peer_common_name(const SSL *ssl, char *buffer, size_t length) {
    X509 *peer = SSL_get0_peer_certificate(ssl);
    if (!peer || length == 0) return 0;
    int got = X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, buffer, (int)length);
    return got > 0 ? (size_t)got : 0;
}

#define CGW_TICKET_KEYS 3

struct cgw_ticket_key {
    unsigned char name[16];
    unsigned char cipher[32];
    unsigned char mac[32];
};

struct cgw_ticket_keys {
    pthread_rwlock_t lock;
    int count; /* keys[0] is the newest */
    struct cgw_ticket_key keys[CGW_TICKET_KEYS];
};

static int cgw_ticket_keys_index = -1;
static pthread_once_t cgw_ticket_keys_once = PTHREAD_ONCE_INIT;
static void cgw_ticket_keys_make_index(void) {
    cgw_ticket_keys_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

cgw_ticket_keys *cgw_ticket_keys_new(void) {
    cgw_ticket_keys *keys = calloc(1, sizeof *keys);
    if (!keys) return NULL;
    pthread_rwlock_init(&keys->lock, NULL);
    if (cgw_ticket_keys_rotate(keys) != 1) { cgw_ticket_keys_free(keys); return NULL; }
    return keys;
}

void cgw_ticket_keys_free(cgw_ticket_keys *keys) {
    if (!keys) return;
    pthread_rwlock_destroy(&keys->lock);
    OPENSSL_cleanse(keys, sizeof *keys);
    free(keys);
}

int cgw_ticket_keys_rotate(cgw_ticket_keys *keys) {
    struct cgw_ticket_key fresh;
    if (RAND_bytes(fresh.name, sizeof fresh.name) != 1 || RAND_priv_bytes(fresh.cipher, sizeof fresh.cipher) != 1
        || RAND_priv_bytes(fresh.mac, sizeof fresh.mac) != 1) return 0;
    pthread_rwlock_wrlock(&keys->lock);
    memmove(&keys->keys[1], &keys->keys[0], sizeof(struct cgw_ticket_key) * (CGW_TICKET_KEYS - 1));
    keys->keys[0] = fresh;
    if (keys->count < CGW_TICKET_KEYS) keys->count++;
    pthread_rwlock_unlock(&keys->lock);
    OPENSSL_cleanse(&fresh, sizeof fresh);
    return 1;
}

static int cgw_ticket_mac_init(EVP_MAC_CTX *mac, unsigned char *key) {
    OSSL_PARAM params[3];
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key, 32);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0);
    params[2] = OSSL_PARAM_construct_end();
    return EVP_MAC_CTX_set_params(mac, params);
}

/* OpenSSL's contract: 1 ticket accepted, 2 accepted but should be renewed, 0 unknown key (full
   handshake), -1 error. */
static int cgw_ticket_callback(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cipher,
                               EVP_MAC_CTX *mac, int sealing) {
    cgw_ticket_keys *keys = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), cgw_ticket_keys_index);
    if (!keys) return -1;
    int result = -1;
    pthread_rwlock_rdlock(&keys->lock);
    if (sealing) {
        struct cgw_ticket_key *key = &keys->keys[0];
        if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) == 1
            && EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), NULL, key->cipher, iv) == 1
            && cgw_ticket_mac_init(mac, key->mac) == 1) {
            memcpy(name, key->name, 16);
            result = 1;
        }
    } else {
        result = 0;
        for (int index = 0; index < keys->count; index++) {
            struct cgw_ticket_key *key = &keys->keys[index];
            if (memcmp(name, key->name, 16) != 0) continue;
            if (cgw_ticket_mac_init(mac, key->mac) == 1
                && EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), NULL, key->cipher, iv) == 1) {
                /* TLS 1.3 clients use a ticket once and expect a fresh one after resuming; TLS 1.2
                   ones keep theirs until its key is no longer the newest. */
                result = (index == 0 && SSL_version(ssl) < TLS1_3_VERSION) ? 1 : 2;
            } else {
                result = -1;
            }
            break;
        }
    }
    pthread_rwlock_unlock(&keys->lock);
    return result;
}

int cgw_ticket_keys_install(SSL_CTX *ctx, cgw_ticket_keys *keys) {
    pthread_once(&cgw_ticket_keys_once, cgw_ticket_keys_make_index);
    if (cgw_ticket_keys_index < 0 || SSL_CTX_set_ex_data(ctx, cgw_ticket_keys_index, keys) != 1) return 0;
    return (int)SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, cgw_ticket_callback);
}

int cgw_set_mmap_threshold(int bytes) { return mallopt(M_MMAP_THRESHOLD, bytes); }

int cgw_trim_heap(void) { return malloc_trim(0); }

size_t cgw_heap_free_bytes(void) { return mallinfo2().fordblks; }

/* A signal an operator may send that should neither end the process nor be blocked: SIGPROF stays
   deliverable because Swift's crash handler suspends the other threads with it while it writes a
   backtrace. The handler formats the log line's UTC timestamp itself, with clock_gettime and
   integer arithmetic only, and writes the line with write(2): both are async-signal-safe, where
   gmtime and the gateway's logger are not. */
static char *cgw_put_digits(char *out, long value, int width) {
    for (int i = width - 1; i >= 0; i--) { out[i] = (char)('0' + value % 10); value /= 10; }
    return out + width;
}

static const char *cgw_signal_name(int signum) {
    switch (signum) {
    case SIGPROF: return "SIGPROF";
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGILL: return "SIGILL";
    case SIGFPE: return "SIGFPE";
    case SIGABRT: return "SIGABRT";
    default: return "a signal";
    }
}

/* One log line, "<UTC time> warning gateway: <name> ... received and ignored (...)", from a signal handler. */
static void cgw_note_ignored_signal(int signum, const char *sender) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    long days = (long)(now.tv_sec / 86400), secondOfDay = (long)(now.tv_sec % 86400);
    /* Days since 1970-01-01 to a civil date (Howard Hinnant's days_from_civil, inverted). */
    long z = days + 719468, era = z / 146097, dayOfEra = z - era * 146097;
    long yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146096) / 365;
    long dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100);
    long monthIndex = (5 * dayOfYear + 2) / 153;
    long day = dayOfYear - (153 * monthIndex + 2) / 5 + 1, month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9;
    long year = yearOfEra + era * 400 + (month <= 2);
    static const char rest[] = " received and ignored (SIGTERM stops the gateway, SIGHUP reloads gateway.json, "
                               "SIGUSR1 reopens the log files)\n";
    char line[256], *out = line;
    out = cgw_put_digits(out, year, 4); *out++ = '-';
    out = cgw_put_digits(out, month, 2); *out++ = '-';
    out = cgw_put_digits(out, day, 2); *out++ = 'T';
    out = cgw_put_digits(out, secondOfDay / 3600, 2); *out++ = ':';
    out = cgw_put_digits(out, secondOfDay / 60 % 60, 2); *out++ = ':';
    out = cgw_put_digits(out, secondOfDay % 60, 2); *out++ = '.';
    out = cgw_put_digits(out, now.tv_nsec / 1000000, 3);
    static const char prefix[] = "Z warning gateway: ";
    memcpy(out, prefix, sizeof prefix - 1); out += sizeof prefix - 1;
    const char *name = cgw_signal_name(signum);
    size_t nameLength = strlen(name);
    memcpy(out, name, nameLength); out += nameLength;
    size_t senderLength = strlen(sender);
    memcpy(out, sender, senderLength); out += senderLength;
    memcpy(out, rest, sizeof rest - 1); out += sizeof rest - 1;
    ssize_t ignored = write(2, line, (size_t)(out - line));
    (void)ignored;
}

static void cgw_note_sigprof(int signum) { cgw_note_ignored_signal(signum, ""); }

int cgw_note_and_ignore_sigprof(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = cgw_note_sigprof;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    return sigaction(SIGPROF, &action, NULL);
}

/* Fault signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT) cannot be blocked like the others: a real
   fault while blocked ends the process without Swift's backtrace. So each keeps a handler in front
   of the one installed before it (Swift's crash handler): one sent by another process with kill(2)
   (si_code <= 0, another pid) is logged and ignored, and anything else, a real crash or abort(),
   goes on to the earlier handler as if this one were not there. */
static struct sigaction cgw_earlier_fault_actions[NSIG];

static void cgw_fault_or_kill(int signum, siginfo_t *info, void *context) {
    if (info != NULL && info->si_code <= 0 && info->si_pid != getpid()) {
        cgw_note_ignored_signal(signum, " sent with kill");
        return;
    }
    struct sigaction *earlier = &cgw_earlier_fault_actions[signum];
    if (earlier->sa_flags & SA_SIGINFO) {
        earlier->sa_sigaction(signum, info, context);
    } else if (earlier->sa_handler == SIG_DFL) {
        /* Returning re-runs a faulting instruction, which now meets the default; a raised signal is raised again. */
        signal(signum, SIG_DFL);
        if (info == NULL || info->si_code <= 0) raise(signum);
    } else if (earlier->sa_handler != SIG_IGN) {
        earlier->sa_handler(signum);
    }
}

int cgw_ignore_fault_signals_sent_with_kill(void) {
    static const int faults[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
        int signum = faults[i];
        struct sigaction action;
        if (sigaction(signum, NULL, &cgw_earlier_fault_actions[signum]) != 0) return -1;
        memset(&action, 0, sizeof action);
        action.sa_sigaction = cgw_fault_or_kill;
        /* The earlier handler's alternate stack (a stack overflow needs it) and mask are kept. */
        action.sa_flags = SA_SIGINFO | (cgw_earlier_fault_actions[signum].sa_flags & (SA_ONSTACK | SA_NODEFER));
        action.sa_mask = cgw_earlier_fault_actions[signum].sa_mask;
        if (sigaction(signum, &action, NULL) != 0) return -1;
    }
    return 0;
}

/* SHA-1, only to name Redis scripts for EVALSHA (Redis's choice, not a security use). */
void cgw_sha1(const void *data, size_t length, unsigned char *out) {
    SHA_CTX context;
    SHA1_Init(&context);
    SHA1_Update(&context, data, length);
    SHA1_Final(out, &context);
}

#include <openssl/evp.h>

/* AES-256-GCM with a 12-byte nonce and a 16-byte tag appended to the ciphertext.
   Returns the output length, or -1 (for open: also when the tag does not match). */
int cgw_aes256gcm_seal(const unsigned char *key, const unsigned char *nonce, const unsigned char *aad, int aad_length,
                       const unsigned char *plain, int length, unsigned char *out) {
    EVP_CIPHER_CTX *context = EVP_CIPHER_CTX_new();
    int written = 0, total = -1, n = 0;
    if (context == NULL) return -1;
    if (EVP_EncryptInit_ex(context, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1
        && EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1
        && EVP_EncryptInit_ex(context, NULL, NULL, key, nonce) == 1
        && (aad_length == 0 || EVP_EncryptUpdate(context, NULL, &n, aad, aad_length) == 1)
        && EVP_EncryptUpdate(context, out, &written, plain, length) == 1
        && EVP_EncryptFinal_ex(context, out + written, &n) == 1
        && EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, 16, out + written + n) == 1) {
        total = written + n + 16;
    }
    EVP_CIPHER_CTX_free(context);
    return total;
}

int cgw_aes256gcm_open(const unsigned char *key, const unsigned char *nonce, const unsigned char *aad, int aad_length,
                       const unsigned char *sealed, int length, unsigned char *out) {
    if (length < 16) return -1;
    EVP_CIPHER_CTX *context = EVP_CIPHER_CTX_new();
    int written = 0, total = -1, n = 0;
    if (context == NULL) return -1;
    if (EVP_DecryptInit_ex(context, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1
        && EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1
        && EVP_DecryptInit_ex(context, NULL, NULL, key, nonce) == 1
        && (aad_length == 0 || EVP_DecryptUpdate(context, NULL, &n, aad, aad_length) == 1)
        && EVP_DecryptUpdate(context, out, &written, sealed, length - 16) == 1
        && EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, 16, (void *)(sealed + length - 16)) == 1
        && EVP_DecryptFinal_ex(context, out + written, &n) == 1) {
        total = written + n;
    }
    EVP_CIPHER_CTX_free(context);
    return total;
}

/* ---- CRC-32C: the SSE4.2 instruction where the CPU has it (about 20 times the table's speed
   on the journal's lines), the byte-wise table elsewhere. Same result either way. ---- */
static uint32_t crc32c_table[256];
static pthread_once_t crc32c_table_once = PTHREAD_ONCE_INIT;

static void crc32c_fill_table(void) {
    for (uint32_t index = 0; index < 256; index++) {
        uint32_t value = index;
        for (int bit = 0; bit < 8; bit++) value = (value & 1) ? (value >> 1) ^ 0x82F63B78u : value >> 1;
        crc32c_table[index] = value;
    }
}

static uint32_t crc32c_by_table(uint32_t crc, const unsigned char *bytes, size_t length) {
    pthread_once(&crc32c_table_once, crc32c_fill_table);
    for (size_t i = 0; i < length; i++) crc = crc32c_table[(crc ^ bytes[i]) & 0xFF] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc32c_by_instruction(uint32_t crc, const unsigned char *bytes, size_t length) {
    uint64_t wide = crc;
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, bytes, 8);
        wide = __builtin_ia32_crc32di(wide, word);
        bytes += 8;
        length -= 8;
    }
    crc = (uint32_t)wide;
    while (length > 0) {
        crc = __builtin_ia32_crc32qi(crc, *bytes++);
        length--;
    }
    return crc;
}
#endif

uint32_t cgw_crc32c(const void *data, size_t length) {
    const unsigned char *bytes = data;
    uint32_t crc = 0xFFFFFFFFu;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("sse4.2")) return crc32c_by_instruction(crc, bytes, length) ^ 0xFFFFFFFFu;
#endif
    return crc32c_by_table(crc, bytes, length) ^ 0xFFFFFFFFu;
}
