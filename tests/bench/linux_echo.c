/* The Linux guest's echo server for `make bench`: one process, one poll() loop, non-blocking sockets, on TCP port 7
 * (IPv4 and IPv6), UDP port 7 and vsock port 7. The fair counterpart of the echo appliance (a fork and a `cat` per
 * connection, what socat gives, measures process creation instead of echoing). Back-pressure as in the appliance:
 * a connection whose echo the peer does not take is not read until the echo has gone out.
 * Built statically by scripts/bench/linux_guest.sh with the host's gcc:  linux_echo [port [inet|vsock]]
 * (both families without the second argument). */
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FDS 1024
#define BUF 65536

struct conn {
    char *buf; /* bytes read and not yet echoed */
    size_t off, len;
};

static struct pollfd pfd[MAX_FDS];
static struct conn conns[MAX_FDS];
static int kind[MAX_FDS]; /* 0 free, 1 listener, 2 UDP, 3 connection */
static int nfds;

static void add(int fd, int k) {
    if (nfds == MAX_FDS) {
        close(fd);
        return;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    pfd[nfds].fd = fd;
    pfd[nfds].events = POLLIN;
    pfd[nfds].revents = 0;
    kind[nfds] = k;
    memset(&conns[nfds], 0, sizeof conns[nfds]);
    ++nfds;
}

static void drop(int i) {
    close(pfd[i].fd);
    free(conns[i].buf);
    --nfds;
    pfd[i] = pfd[nfds];
    conns[i] = conns[nfds];
    kind[i] = kind[nfds];
}

static void listen_on(int family, int type, int port) {
    int fd = socket(family, type, 0), one = 1;
    if (fd < 0) return;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int ok;
    if (family == AF_INET6) {
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = in6addr_any};
        ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    } else if (family == AF_VSOCK) {
        struct sockaddr_vm a = {.svm_family = AF_VSOCK, .svm_port = port, .svm_cid = VMADDR_CID_ANY};
        ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    } else {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = INADDR_ANY};
        ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    }
    if (!ok || (type == SOCK_STREAM && listen(fd, 128) != 0)) {
        close(fd);
        return;
    }
    add(fd, type == SOCK_STREAM ? 1 : 2);
}

/* Echo what is pending; 0 when the connection is finished with. */
static int flush(int i) {
    struct conn *c = &conns[i];
    while (c->len) {
        ssize_t n = send(pfd[i].fd, c->buf + c->off, c->len, MSG_NOSIGNAL);
        if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        c->off += (size_t)n;
        c->len -= (size_t)n;
    }
    c->off = 0;
    return 1;
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 7;
    const char *only = argc > 2 ? argv[2] : "";
    if (strcmp(only, "vsock") != 0) {
        listen_on(AF_INET6, SOCK_STREAM, port); /* v4-mapped too, unless the kernel says otherwise */
        listen_on(AF_INET, SOCK_STREAM, port);  /* fails harmlessly when the v6 socket took v4 as well */
        listen_on(AF_INET6, SOCK_DGRAM, port);
        listen_on(AF_INET, SOCK_DGRAM, port);
    }
    if (strcmp(only, "inet") != 0) listen_on(AF_VSOCK, SOCK_STREAM, port);
    if (nfds == 0) return 1;
    static char dgram[BUF];
    for (;;) {
        if (poll(pfd, (nfds_t)nfds, -1) < 0) continue;
        for (int i = nfds - 1; i >= 0; --i) {
            short ev = pfd[i].revents;
            if (!ev) continue;
            if (kind[i] == 1) {
                int fd;
                while ((fd = accept(pfd[i].fd, NULL, NULL)) >= 0) {
                    int one = 1;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* fails on vsock: harmless */
                    add(fd, 3);
                }
            } else if (kind[i] == 2) {
                struct sockaddr_storage from;
                socklen_t fl;
                ssize_t n;
                while (fl = sizeof from,
                       (n = recvfrom(pfd[i].fd, dgram, sizeof dgram, 0, (struct sockaddr *)&from, &fl)) >= 0)
                    sendto(pfd[i].fd, dgram, (size_t)n, 0, (struct sockaddr *)&from, fl);
            } else {
                struct conn *c = &conns[i];
                if ((ev & POLLOUT) && !flush(i)) {
                    drop(i);
                    continue;
                }
                if (!c->len && (ev & (POLLIN | POLLHUP | POLLERR))) {
                    if (!c->buf && !(c->buf = malloc(BUF))) {
                        drop(i);
                        continue;
                    }
                    ssize_t n = recv(pfd[i].fd, c->buf, BUF, 0);
                    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                        drop(i);
                        continue;
                    }
                    if (n > 0) {
                        c->len = (size_t)n;
                        if (!flush(i)) {
                            drop(i);
                            continue;
                        }
                    }
                }
                pfd[i].events = c->len ? POLLOUT : POLLIN;
            }
        }
    }
}
