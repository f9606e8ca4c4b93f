/*
 * main: the command line and the start-up order. Everything else lives in
 * the runtime.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice/authfiles.h"
#include "sluice/config.h"
#include "sluice/configenv.h"
#include "sluice/log.h"
#include "sluice/runtime.h"
#include "sluice/tls.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: sluice [OPTIONS] [CONFIG]\n"
		   "PostgreSQL connection pooler. Runs in the foreground and logs to stderr.\n\n"
		   "Options:\n"
		   "  -c, --check     validate the configuration and the auth files it names,\n"
		   "                  and exit (0 valid, 1 invalid)\n"
		   "      --database-url URL  pool this one database, without a CONFIG file\n"
		   "                  (rather set DATABASE_URL: a command line is visible to all)\n"
		   "  -v, --verbose   more log output (repeat for even more)\n"
		   "  -V, --version   print the version and exit\n"
		   "  -h, --help      this help\n\n"
		   "CONFIG is an INI file with [databases], [users] and [sluice] (or [pgbouncer])\n"
		   "sections; an existing pgbouncer.ini works as it is. Without CONFIG,\n"
		   "DATABASE_URL (or DATABASE_URL_FILE) names the one database to pool: sluice\n"
		   "listens on 127.0.0.1:6432 (admin port 6433) in transaction mode, and clients\n"
		   "log in as the URL's user with its password. SLUICE_<KEY>=value, or\n"
		   "SLUICE_<KEY>_FILE=path, in the environment overrides any key.\n");
}

/* --check: the config and the authentication files it names, as a start would load them. */
/* The auth files, certificates and keys too: a file a start would refuse makes it invalid. */
static bool tls_usable(const struct config *cfg, char *err, size_t errlen)
{
	struct tls_ctx *accept, *connect;
	if (!tls_ctx_load(cfg, &accept, &connect, err, errlen))
		return false;
	tls_ctx_free(accept);
	tls_ctx_free(connect);
	return true;
}

static int check_only(struct config *cfg, const char *path)
{
	struct authfiles auth;
	char err[1280];
	bool ok = authfiles_load(cfg, &auth, err, sizeof(err));

	if (!ok)
		fprintf(stderr, "%s\n", err);
	else if (!(ok = tls_usable(cfg, err, sizeof(err))))
		fprintf(stderr, "%s: %s\n", path, err);
	else
		printf("%s: configuration is valid\n", path);
	authfiles_free(&auth);
	config_free(cfg);
	return ok ? 0 : 1;
}

/* Without a file, say what the URL made: the database, the user, where to connect. */
static void log_origin(const struct config *cfg, const struct config_origin *o)
{
	if (o->path != NULL || cfg->n_dbs == 0)
		return;
	log_info("no config file: pooling database \"%s\" of %s:%d from DATABASE_URL; clients log "
		 "in as \"%s\" (%s) on %s:%d",
		 cfg->dbs[0].name, cfg->dbs[0].host ? cfg->dbs[0].host : "the local socket",
		 cfg->dbs[0].port, cfg->url_user ? cfg->url_user : "",
		 cfg->url_password ? "with the URL's password" : "trusted: the URL has no password",
		 cfg->listen_addr, cfg->listen_port);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "check", no_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ "database-url", required_argument, NULL, 'U' },
		{ NULL, 0, NULL, 0 },
	};
	const char *database_url = NULL;
	bool check = false;
	int verbose = 0, opt;
	while ((opt = getopt_long(argc, argv, "cvVh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			check = true;
			break;
		case 'v':
			verbose++;
			break;
		case 'V':
			printf("sluice %s\n", SLUICE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		case 'U':
			database_url = optarg;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc - 1) {
		usage(stderr);
		return 2;
	}
	struct config_origin origin = {
		.path = optind < argc ? argv[optind] : NULL,
		.database_url = database_url,
		.envp = environ,
	};
	char err[1280];
	struct config *cfg = configenv_build(&origin, err, sizeof(err));
	if (cfg == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (check)
		return check_only(cfg, origin.path ? origin.path : "DATABASE_URL");
	log_set_verbose(cfg->verbose > verbose ? cfg->verbose : verbose);
	log_set_format(cfg->log_format);
	if (cfg->logfile && !log_open_file(cfg->logfile)) {
		fprintf(stderr, "could not open logfile %s\n", cfg->logfile);
		config_free(cfg);
		return 1;
	}
	log_origin(cfg, &origin);
	struct runtime *rt = runtime_new(cfg, &origin);
	if (rt == NULL) {
		config_free(cfg);
		return 1;
	}
	int rc = 1;
	if (runtime_start(rt))
		rc = runtime_run(rt);
	runtime_free(rt);
	log_close();
	return rc;
}
