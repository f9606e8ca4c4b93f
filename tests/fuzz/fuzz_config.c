/*
 * fuzz_config: config_load over arbitrary file contents. The input is written
 * to a memfd, loaded through /proc/self/fd/N and the config freed again.
 * Asserts: no crash and no leak; the result is a config that remembers its
 * path and finds each of its databases and users by name, or NULL with an
 * error message that starts with the path.
 */
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sluice/config.h"
#include "sluice/log.h"

#include "fuzz.h"

static int fd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_threshold =
		LOG_FATAL; /* unknown keys and sections are warnings: keep the output readable */
	fd = memfd_create("fuzz_config", 0);
	FUZZ_CHECK(fd >= 0);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return 0;
}

static void check_config(const struct config *cfg)
{
	FUZZ_CHECK(strcmp(cfg->path, path) == 0);
	FUZZ_CHECK(cfg->admin_users != NULL && cfg->stats_users != NULL);
	FUZZ_CHECK(cfg->ignore_startup_parameters != NULL);
	for (size_t i = 0; i < cfg->n_dbs; i++) {
		const struct config_db *db = config_find_db(cfg, cfg->dbs[i].name);
		FUZZ_CHECK(db != NULL && strcmp(db->name, cfg->dbs[i].name) == 0);
	}
	for (size_t i = 0; i < cfg->n_users; i++) {
		const struct config_user *u = config_find_user(cfg, cfg->users[i].name);
		FUZZ_CHECK(u != NULL && strcmp(u->name, cfg->users[i].name) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FUZZ_CHECK(ftruncate(fd, 0) == 0);
	FUZZ_CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);

	char err[512] = "";
	struct config *cfg = config_load(path, err, sizeof(err));
	if (cfg != NULL)
		check_config(cfg);
	else
		FUZZ_CHECK(strncmp(err, path, strlen(path)) == 0);
	config_free(cfg);
	return 0;
}
