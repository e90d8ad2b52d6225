// Linked into the release binary by scripts/release.sh in place of -lcurl: defines the libcurl functions that
// Foundation's URLSession (FoundationNetworking, brought in by the MCP SDK's HTTP transport and OAuth files) calls,
// and forwards each to libcurl.so.4, loaded with dlopen on first use. `rlm` never starts a URLSession (its HTTP goes
// through AsyncHTTPClient), so the binary runs where libcurl is not installed (a minimal Debian has none) and
// libcurl leaves its list of dynamic libraries; should a URLSession start, it works wherever libcurl.so.4 exists,
// and elsewhere rlm stops with a message that says what to install.
//
// No curl header is needed: the types are the C ABI's (handles are pointers, codes and options ints). The variadic
// setopt/getinfo calls pass one argument, which is a long, a pointer or a curl_off_t: each is one 64-bit integer
// register on x86_64 and arm64 (LP64), so it is forwarded as a pointer-sized integer.
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static void *libcurl;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void open_libcurl(void) {
    // Debian's OpenSSL build first, then its other flavours, which have the same functions.
    const char *names[] = {"libcurl.so.4", "libcurl-gnutls.so.4", "libcurl-nss.so.4"};
    char reason[512] = "";
    for (size_t i = 0; i < sizeof names / sizeof *names && !libcurl; i++) {
        libcurl = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (!libcurl && i == 0) snprintf(reason, sizeof reason, "%s", dlerror());
    }
    if (!libcurl) {
        fprintf(stderr, "rlm: this needs libcurl.so.4 (for Foundation's URLSession), which cannot be loaded: %s. "
                        "Install libcurl (Debian/Ubuntu: apt-get install libcurl4; Fedora: dnf install libcurl).\n", reason);
        exit(1);
    }
}

static void *resolve(const char *name) {
    pthread_once(&once, open_libcurl);
    void *function = dlsym(libcurl, name);
    if (!function) {
        fprintf(stderr, "rlm: the libcurl found lacks %s; install libcurl 7.62 or later.\n", name);
        exit(1);
    }
    return function;
}

// FORWARD(return type, name, (parameters), (arguments)): a function that calls libcurl's own.
#define FORWARD(type, name, parameters, arguments)                              \
    type name parameters {                                                      \
        static type (*real) parameters;                                         \
        if (!real) real = (type (*) parameters)resolve(#name);                  \
        return real arguments;                                                  \
    }
#define FORWARD_VOID(name, parameters, arguments)                               \
    void name parameters {                                                      \
        static void (*real) parameters;                                         \
        if (!real) real = (void (*) parameters)resolve(#name);                  \
        real arguments;                                                         \
    }
// Variadic: the one argument after `code` is read as a pointer-sized integer and passed on as such.
#define FORWARD_VARIADIC(name)                                                  \
    int name(void *handle, int code, ...) {                                     \
        static int (*real)(void *, int, ...);                                   \
        if (!real) real = (int (*)(void *, int, ...))resolve(#name);            \
        va_list list;                                                           \
        va_start(list, code);                                                   \
        intptr_t argument = va_arg(list, intptr_t);                             \
        va_end(list);                                                           \
        return real(handle, code, argument);                                    \
    }

FORWARD(int, curl_global_init, (long flags), (flags))
FORWARD(char *, curl_version, (void), ())
FORWARD(void *, curl_version_info, (int age), (age))
FORWARD(const char *, curl_easy_strerror, (int code), (code))
FORWARD_VOID(curl_free, (void *pointer), (pointer))
FORWARD(void *, curl_easy_init, (void), ())
FORWARD_VOID(curl_easy_cleanup, (void *handle), (handle))
FORWARD(int, curl_easy_pause, (void *handle, int bitmask), (handle, bitmask))
FORWARD_VARIADIC(curl_easy_setopt)
FORWARD_VARIADIC(curl_easy_getinfo)
FORWARD(void *, curl_multi_init, (void), ())
FORWARD(int, curl_multi_cleanup, (void *multi), (multi))
FORWARD(int, curl_multi_add_handle, (void *multi, void *easy), (multi, easy))
FORWARD(int, curl_multi_remove_handle, (void *multi, void *easy), (multi, easy))
FORWARD(int, curl_multi_assign, (void *multi, int socket, void *pointer), (multi, socket, pointer))
FORWARD(void *, curl_multi_info_read, (void *multi, int *queued), (multi, queued))
FORWARD(int, curl_multi_socket_action, (void *multi, int socket, int mask, int *running), (multi, socket, mask, running))
FORWARD_VARIADIC(curl_multi_setopt)
FORWARD(void *, curl_slist_append, (void *list, const char *text), (list, text))
FORWARD_VOID(curl_slist_free_all, (void *list), (list))
FORWARD(void *, curl_url, (void), ())
FORWARD(int, curl_url_get, (void *url, int part, char **text, unsigned int flags), (url, part, text, flags))
FORWARD(int, curl_url_set, (void *url, int part, const char *text, unsigned int flags), (url, part, text, flags))
