/* tls_ca.c — the certificate authorities of provider TLS; see tls_ca.h. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "tls_ca.h"

#ifdef CS_EMBED_CA
/* Debian's /etc/ssl/certs/ca-certificates.crt at build time (embed.py). */
extern const char cs_ca_bundle[];
extern const size_t cs_ca_bundle_len;
#ifndef CS_CA_VERSION
#define CS_CA_VERSION "unknown"
#endif
#endif

/* The usual bundle files, most common first. */
static const char *const bundles[] = {
	"/etc/ssl/certs/ca-certificates.crt", /* Debian, Ubuntu, Alpine */
	"/etc/pki/tls/certs/ca-bundle.crt",   /* RHEL, Alma, CloudLinux */
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", /* RHEL 7+ */
	"/etc/ssl/ca-bundle.pem",                            /* SUSE */
	"/var/lib/ca-certificates/ca-bundle.pem",            /* SUSE, newer */
	"/etc/ssl/cert.pem",                      /* Alpine, the BSDs */
	"/usr/local/share/certs/ca-root-nss.crt", /* FreeBSD */
};

static const char *probed; /* NULL: none found */
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

static void
probe(void)
{
	size_t i;

	for (i = 0; i < CS_ARRAY_LEN(bundles); i++)
		if (access(bundles[i], R_OK) == 0) {
			probed = bundles[i];
			return;
		}
}

int
cs_ca_portable(void)
{
#ifdef CS_EMBED_CA
	return 1;
#else
	return 0;
#endif
}

enum cs_ca_source
cs_ca_source(const struct cs_upstream_cfg *u, const char **path)
{
	*path = "";
	if (u->ca_file[0] != '\0') {
		*path = u->ca_file;
		return CS_CA_FILE;
	}
	if (u->ca_path[0] != '\0') {
		*path = u->ca_path;
		return CS_CA_PATH;
	}
	if (!cs_ca_portable())
		return CS_CA_LIBCURL;
	pthread_once(&probe_once, probe);
	if (probed != NULL) {
		*path = probed;
		return CS_CA_PROBED;
	}
	return CS_CA_EMBEDDED;
}

int
cs_ca_apply(CURL *e, const struct cs_upstream_cfg *u)
{
	const char *path;
	int bad = 0;

	switch (cs_ca_source(u, &path)) {
	case CS_CA_LIBCURL: break;
	case CS_CA_FILE:
	case CS_CA_PROBED:
		bad |= curl_easy_setopt(e, CURLOPT_CAINFO, path) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_PROXY_CAINFO, path) !=
		    CURLE_OK;
		if (u->ca_path[0] != '\0')
			bad |= curl_easy_setopt(
			           e, CURLOPT_CAPATH, u->ca_path) != CURLE_OK;
		break;
	case CS_CA_PATH:
		/* Not the bundle of the build machine besides it. */
		bad |= curl_easy_setopt(e, CURLOPT_CAINFO, NULL) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_CAPATH, path) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_PROXY_CAPATH, path) !=
		    CURLE_OK;
		break;
	case CS_CA_EMBEDDED: {
#ifdef CS_EMBED_CA
		struct curl_blob blob = { (void *)(uintptr_t)cs_ca_bundle,
			cs_ca_bundle_len, CURL_BLOB_NOCOPY };

		bad |= curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob) !=
		    CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_PROXY_CAINFO_BLOB, &blob) !=
		    CURLE_OK;
#endif
		break;
	}
	}
	return bad ? -1 : 0;
}

void
cs_ca_describe(const struct cs_upstream_cfg *u, char *out, size_t len)
{
	const char *path;

	switch (cs_ca_source(u, &path)) {
	case CS_CA_LIBCURL:
		snprintf(out, len, "libcurl's default (the system bundle)");
		break;
	case CS_CA_FILE: snprintf(out, len, "ca_file %s", path); break;
	case CS_CA_PATH: snprintf(out, len, "ca_path %s", path); break;
	case CS_CA_PROBED:
		snprintf(out, len, "system bundle %s (probed)", path);
		break;
	case CS_CA_EMBEDDED:
#ifdef CS_EMBED_CA
		snprintf(out, len,
		    "embedded (%zu bytes, Debian ca-certificates %s): no "
		    "system bundle found",
		    cs_ca_bundle_len, CS_CA_VERSION);
#endif
		break;
	}
}
