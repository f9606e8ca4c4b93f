/*
 * configenv: the file or the DATABASE_URL, then the environment, into one
 * struct config (see configenv.h). Owns no state between calls; every value
 * read from a *_FILE is wiped from its buffers once it is in the config.
 */
#include "sluice/configenv.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sluice/config.h"
#include "sluice/dburl.h"
#include "sluice/log.h"

#define ENV_PREFIX      "SLUICE_"
#define SECRET_FILE_MAX 65536 /* a value read from a file: a password, a path, a list */

/* The value of NAME in envp, or NULL. */
static const char *env_get(char *const *envp, const char *name)
{
	size_t len = strlen(name);

	for (; envp != NULL && *envp != NULL; envp++)
		if (strncmp(*envp, name, len) == 0 && (*envp)[len] == '=')
			return *envp + len + 1;
	return NULL;
}

/*
 * The contents of a value file, trailing newlines dropped (a file written
 * with echo has one, a Kubernetes Secret none). NULL with err set when it
 * cannot be read, is not a regular file, is too long or holds a NUL byte.
 */
static char *read_value_file(const char *var, const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	char *buf = NULL;
	ssize_t n = -1;

	if (fd < 0 || fstat(fd, &st) != 0) {
		snprintf(err, errlen, "%s: %s: %s", var, path, strerror(errno));
	} else if (!S_ISREG(st.st_mode) || st.st_size > SECRET_FILE_MAX) {
		snprintf(err, errlen, "%s: %s: %s", var, path,
			 S_ISREG(st.st_mode) ? "longer than 64 kB" : "not a regular file");
	} else if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", var);
	} else if ((n = read(fd, buf, (size_t)st.st_size)) < 0) {
		snprintf(err, errlen, "%s: %s: %s", var, path, strerror(errno));
	} else if (memchr(buf, '\0', (size_t)n) != NULL) {
		snprintf(err, errlen, "%s: %s: holds a NUL byte", var, path);
		n = -1;
	}
	if (fd >= 0)
		close(fd);
	if (n < 0) {
		if (buf != NULL)
			OPENSSL_cleanse(buf, (size_t)st.st_size + 1);
		free(buf);
		return NULL;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	return buf;
}

static void free_secret(char *s)
{
	if (s != NULL)
		OPENSSL_cleanse(s, strlen(s));
	free(s);
}

/* --- DATABASE_URL --- */

/* The URL: --database-url, else DATABASE_URL, else DATABASE_URL_FILE's contents. */
static char *database_url(const struct config_origin *o, char *err, size_t errlen)
{
	const char *v = o->database_url ? o->database_url : env_get(o->envp, "DATABASE_URL");
	const char *file = env_get(o->envp, "DATABASE_URL_FILE");

	if (v != NULL && file != NULL && o->database_url == NULL) {
		snprintf(err, errlen, "DATABASE_URL and DATABASE_URL_FILE are both set: use one");
		return NULL;
	}
	if (v != NULL) {
		char *copy = strdup(v);
		if (copy == NULL)
			snprintf(err, errlen, "DATABASE_URL: out of memory");
		return copy;
	}
	if (file != NULL)
		return read_value_file("DATABASE_URL_FILE", file, err, errlen);
	snprintf(err, errlen,
		 "no configuration: give a CONFIG file, or set DATABASE_URL (or --database-url)");
	return NULL;
}

static bool put(struct config *cfg, const char *key, const char *value, char *err, size_t errlen)
{
	char why[512];

	if (config_put_key(cfg, key, value, "DATABASE_URL", why, sizeof(why)))
		return true;
	snprintf(err, errlen, "DATABASE_URL: %s", why);
	return false;
}

/* The URL's server-side parameters onto sluice's keys (those given only). */
static bool put_url_params(struct config *cfg, const struct dburl *u, char *err, size_t errlen)
{
	const struct {
		const char *key, *value;
	} map[] = {
		{ "server_tls_sslmode", u->sslmode },
		{ "server_tls_ca_file", u->sslrootcert },
		{ "server_tls_cert_file", u->sslcert },
		{ "server_tls_key_file", u->sslkey },
		{ "server_connect_timeout", u->connect_timeout },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].value != NULL && !put(cfg, map[i].key, map[i].value, err, errlen))
			return false;
	return true;
}

/* The one [databases] entry: everything the server log-in needs. */
static bool add_url_db(struct config *cfg, struct dburl *u, char *err, size_t errlen)
{
	const char *name = u->dbname ? u->dbname : u->user;
	struct config_db *db = config_add_db(cfg, name);

	if (db == NULL) {
		snprintf(err, errlen, "DATABASE_URL: out of memory");
		return false;
	}
	/* the entry takes the strings over */
	db->host = u->host;
	db->port = u->port ? u->port : 5432;
	db->dbname = u->dbname ? strdup(u->dbname) : NULL;
	db->user = strdup(u->user);
	db->password = u->password ? strdup(u->password) : NULL;
	u->host = NULL;
	if ((u->dbname && !db->dbname) || !db->user || (u->password && !db->password)) {
		snprintf(err, errlen, "DATABASE_URL: out of memory");
		return false;
	}
	return true;
}

/*
 * A pooler for the URL's database: transaction mode, no unix socket (a
 * read-only root file system has no writable /tmp), clients authenticated
 * as the URL's user with its password (SCRAM), or trusted when it has none.
 */
static bool apply_url(struct config *cfg, const char *url, char *err, size_t errlen)
{
	struct dburl u;

	if (!dburl_parse(url, &u, err, errlen))
		return false;
	bool ok = false;
	if (u.password != NULL && u.password[0] == '\0') {
		free(u.password); /* "user:@host" is a URL without a password */
		u.password = NULL;
	}
	if (u.user == NULL || u.user[0] == '\0')
		snprintf(err, errlen,
			 "DATABASE_URL: no user name (postgresql://USER:PASSWORD@HOST/DB)");
	else
		ok = add_url_db(cfg, &u, err, errlen) &&
		     put(cfg, "pool_mode", "transaction", err, errlen) &&
		     put(cfg, "unix_socket_dir", "", err, errlen) &&
		     put(cfg, "auth_type", u.password ? "scram-sha-256" : "trust", err, errlen) &&
		     put_url_params(cfg, &u, err, errlen);
	if (ok) {
		cfg->url_user = strdup(u.user);
		cfg->url_password = u.password ? strdup(u.password) : NULL;
		ok = cfg->url_user != NULL && (u.password == NULL || cfg->url_password != NULL);
		if (!ok)
			snprintf(err, errlen, "DATABASE_URL: out of memory");
	}
	dburl_free(&u);
	return ok;
}

/* --- SLUICE_<KEY> --- */

struct key_names {
	char **names;
	size_t n, cap;
};

static void collect_key(const char *key, const char *value, const char *def, bool reloadable,
			void *arg)
{
	struct key_names *k = arg;
	(void)value;
	(void)def;
	(void)reloadable;
	if (k->n == k->cap) {
		size_t ncap = k->cap ? k->cap * 2 : 128;
		char **p = realloc(k->names, ncap * sizeof(*p));
		if (p == NULL)
			return;
		k->names = p;
		k->cap = ncap;
	}
	k->names[k->n] = strdup(key);
	if (k->names[k->n] != NULL)
		k->n++;
}

/* "SLUICE_" + the key upper-cased (+ suffix). */
static void env_name(char *out, size_t outlen, const char *key, const char *suffix)
{
	size_t n = (size_t)snprintf(out, outlen, ENV_PREFIX "%s%s", key, suffix);
	for (size_t i = strlen(ENV_PREFIX); i < n && i < outlen; i++)
		out[i] = (char)toupper((unsigned char)out[i]);
}

/* One key from its variable or its _FILE variable, when either is set. */
static bool env_key(struct config *cfg, const struct config_origin *o, const char *key, char *err,
		    size_t errlen)
{
	char var[128], fvar[128], source[CONFIG_SOURCE_LEN], why[512];

	env_name(var, sizeof(var), key, "");
	env_name(fvar, sizeof(fvar), key, "_FILE");
	const char *value = env_get(o->envp, var), *file = env_get(o->envp, fvar);
	if (value == NULL && file == NULL)
		return true;
	if (value != NULL && file != NULL) {
		snprintf(err, errlen, "%s and %s are both set: use one", var, fvar);
		return false;
	}
	char *from_file = NULL;
	if (file != NULL && (from_file = read_value_file(fvar, file, err, errlen)) == NULL)
		return false;
	if (file != NULL)
		snprintf(source, sizeof(source), "env %s (%s)", fvar, file);
	else
		snprintf(source, sizeof(source), "env %s", var);
	bool ok = config_put_key(cfg, key, file ? from_file : value, source, why, sizeof(why));
	if (!ok)
		snprintf(err, errlen, "%s: %s", file ? fvar : var, why);
	free_secret(from_file);
	return ok;
}

/* Is NAME (after SLUICE_) one of the keys, or one with _FILE? */
static bool is_key_var(const struct key_names *k, const char *var)
{
	char name[128];
	for (size_t i = 0; i < k->n; i++) {
		env_name(name, sizeof(name), k->names[i], "");
		size_t len = strlen(name);
		if (strncmp(var, name, len) == 0 &&
		    (var[len] == '=' || strncmp(var + len, "_FILE=", 6) == 0))
			return true;
	}
	return false;
}

/* A misspelt SLUICE_ variable would otherwise be ignored without a word. */
static void warn_unknown_vars(const struct key_names *k, char *const *envp)
{
	for (; envp != NULL && *envp != NULL; envp++) {
		if (strncmp(*envp, ENV_PREFIX, strlen(ENV_PREFIX)) != 0 || is_key_var(k, *envp))
			continue;
		const char *eq = strchr(*envp, '=');
		int len = eq ? (int)(eq - *envp) : (int)strlen(*envp);
		log_warn("environment: %.*s is not a sluice setting, ignored",
			 len > 100 ? 100 : len, *envp);
	}
}

static bool apply_env(struct config *cfg, const struct config_origin *o, char *err, size_t errlen)
{
	struct key_names k = { 0 };
	bool ok = true;

	config_foreach_key(cfg, collect_key, &k);
	for (size_t i = 0; ok && i < k.n; i++)
		ok = env_key(cfg, o, k.names[i], err, errlen);
	if (ok)
		warn_unknown_vars(&k, o->envp);
	for (size_t i = 0; i < k.n; i++)
		free(k.names[i]);
	free(k.names);
	return ok;
}

/* --- building --- */

static struct config *from_url(const struct config_origin *o, char *err, size_t errlen)
{
	char *url = database_url(o, err, errlen);
	if (url == NULL)
		return NULL;
	struct config *cfg = config_new("DATABASE_URL");
	bool ok = cfg != NULL && apply_url(cfg, url, err, errlen);
	if (cfg == NULL)
		snprintf(err, errlen, "out of memory");
	free_secret(url);
	if (!ok) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

struct config *configenv_build(const struct config_origin *o, char *err, size_t errlen)
{
	if (o->path != NULL && o->database_url != NULL) {
		snprintf(err, errlen, "give a CONFIG file or --database-url, not both");
		return NULL;
	}
	struct config *cfg = o->path ? config_load(o->path, err, errlen) : from_url(o, err, errlen);
	if (cfg == NULL)
		return NULL;
	const char *conflict = NULL;
	if (!apply_env(cfg, o, err, errlen) || (conflict = config_conflict(cfg)) != NULL) {
		if (conflict != NULL)
			snprintf(err, errlen, "environment: %s", conflict);
		config_free(cfg);
		return NULL;
	}
	return cfg;
}
