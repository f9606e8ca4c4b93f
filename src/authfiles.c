/*
 * authfiles: loads auth_file, auth_hba_file and auth_ident_file for a
 * config, all or none (see authfiles.h). Owns nothing beyond what it hands
 * out.
 */
#include "sluice/authfiles.h"

#include <stdio.h>

#include "sluice/auth.h"
#include "sluice/config.h"
#include "sluice/hba.h"
#include "sluice/ident.h"

bool authfiles_load(const struct config *cfg, struct authfiles *out, char *err, size_t errlen)
{
	char why[1024];
	bool hba = cfg->auth_type == AUTH_TYPE_HBA;
	const char *key = NULL; /* of the file that failed */

	*out = (struct authfiles){ 0 };
	if (cfg->auth_file &&
	    (out->users = authfile_load(cfg->auth_file, why, sizeof(why))) == NULL)
		key = "auth_file";
	else if (hba && cfg->auth_hba_file &&
		 (out->hba = hba_load(cfg->auth_hba_file, why, sizeof(why))) == NULL)
		key = "auth_hba_file";
	else if (hba && cfg->auth_ident_file &&
		 (out->ident = ident_map_load(cfg->auth_ident_file, why, sizeof(why))) == NULL)
		key = "auth_ident_file";
	else if (!cfg->auth_file && cfg->url_user && cfg->url_password &&
		 (out->users = authfile_of(cfg->url_user, cfg->url_password)) == NULL) {
		snprintf(why, sizeof(why), "out of memory");
		key = "DATABASE_URL";
	}
	if (key == NULL)
		return true;
	snprintf(err, errlen, "%s: %s", key, why);
	authfiles_free(out);
	return false;
}

void authfiles_replace(struct authfiles *cur, struct authfiles *fresh)
{
	authfile_keep_derived(fresh->users, cur->users);
	authfiles_free(cur);
	*cur = *fresh;
	*fresh = (struct authfiles){ 0 };
}

void authfiles_free(struct authfiles *af)
{
	authfile_free(af->users);
	hba_free(af->hba);
	ident_map_free(af->ident);
	*af = (struct authfiles){ 0 };
}
