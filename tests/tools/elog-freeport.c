/*
 * elog-freeport — test-only: print N TCP ports on 127.0.0.1 that were free
 * a moment ago, one a line, each different. The cluster tests need every
 * broker's port before any broker starts (each is told the whole list);
 * the port may be taken by someone else before the broker binds it, so
 * the tests retry a start that fails with "address already in use".
 *
 *   elog-freeport [N]        N from 1 to 64, default 1
 *
 * All N sockets are held open until every port is known, so they differ.
 * Exit 0, or 1 with a message.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PORTS_MAX 64

int main(int argc, char **argv)
{
	int fds[PORTS_MAX], n = argc > 1 ? atoi(argv[1]) : 1;

	if (n < 1 || n > PORTS_MAX) {
		fprintf(stderr, "elog-freeport: count must be 1 to %d\n", PORTS_MAX);
		return 1;
	}
	for (int i = 0; i < n; i++) {
		struct sockaddr_in a;
		socklen_t len = sizeof(a);
		memset(&a, 0, sizeof(a));
		a.sin_family = AF_INET;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    getsockname(fds[i], (struct sockaddr *)&a, &len) < 0) {
			perror("elog-freeport");
			return 1;
		}
		printf("%u\n", ntohs(a.sin_port));
	}
	for (int i = 0; i < n; i++)
		close(fds[i]);
	return 0;
}
