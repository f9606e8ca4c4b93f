/*
 * fuzz_hba: hba_load and ident_map_load over the same arbitrary file. The
 * input is written to a memfd and loaded through /proc/self/fd/N (an @file
 * then names a file beside it in /proc/self/fd, mostly absent, sometimes the
 * input itself: the nesting limit must stop that).
 * Asserts: no crash and no leak; a load fails with an error that starts with
 * the path; a loaded file answers look-ups for every connection kind with
 * NULL or a rule of a known method, on a line of the file, whose map is set
 * only for peer and cert; an ident map answers without crashing.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sluice/hba.h"
#include "sluice/ident.h"

#include "fuzz.h"

static int fd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fd = memfd_create("fuzz_hba", 0);
	FUZZ_CHECK(fd >= 0);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return 0;
}

static size_t count_lines(const uint8_t *data, size_t size)
{
	size_t n = 1;
	for (size_t i = 0; i < size; i++)
		n += data[i] == '\n';
	return n;
}

static void check_verdict(const struct hba_verdict *v, size_t lines)
{
	if (v == NULL)
		return;
	FUZZ_CHECK(v->method <= HBA_PEER);
	FUZZ_CHECK(v->line >= 1 && (size_t)v->line <= lines);
	FUZZ_CHECK(v->map == NULL || v->method == HBA_PEER || v->method == HBA_CERT);
	FUZZ_CHECK(strcmp(hba_method_str(v->method), "?") != 0);
}

static void probe_hba(const struct hba *hba, size_t lines)
{
	struct sockaddr_in in = { .sin_family = AF_INET };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
	static const char *const names[] = { "all", "postgres", "appdb", "" };

	inet_pton(AF_INET, "10.1.2.3", &in.sin_addr);
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &in6.sin6_addr);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *db = names[i], *user = names[(i + 1) % 4];
		check_verdict(hba_match(hba, HBA_LOCAL, NULL, db, user), lines);
		check_verdict(hba_match(hba, HBA_HOST_PLAIN, (struct sockaddr *)&in, db, user),
			      lines);
		check_verdict(hba_match(hba, HBA_HOST_TLS, (struct sockaddr *)&in6, db, user),
			      lines);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[1024] = "";

	FUZZ_CHECK(ftruncate(fd, 0) == 0);
	FUZZ_CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);

	struct hba *hba = hba_load(path, err, sizeof(err));
	if (hba != NULL)
		probe_hba(hba, count_lines(data, size));
	else
		FUZZ_CHECK(strncmp(err, path, strlen(path)) == 0);
	hba_free(hba);

	struct ident_map *map = ident_map_load(path, err, sizeof(err));
	if (map != NULL) {
		(void)ident_map_allows(map, "os", "root", "postgres");
		(void)ident_map_allows(map, "m", "alice@example.com", "alice");
	} else {
		FUZZ_CHECK(strncmp(err, path, strlen(path)) == 0);
	}
	ident_map_free(map);
	return 0;
}
