/*
 * tls_ca.h — which certificate authorities a provider's (and a proxy's)
 * TLS certificate is checked against.
 *
 * In order: the upstream's ca_file and ca_path (the config: a site's own
 * proxy CA, a private provider); else, in the portable build (a static
 * binary, which cannot trust the build machine's paths), the first
 * readable bundle of the usual places (Debian and Ubuntu, RHEL, Alma and
 * CloudLinux, SUSE, Alpine, FreeBSD), else the bundle embedded at build
 * time from Debian's ca-certificates; in the Debian build, libcurl's own
 * default (the system bundle).  The probe runs once per process.
 */
#ifndef CS_TLS_CA_H
#define CS_TLS_CA_H

#include <stddef.h>

#include <curl/curl.h>

struct cs_upstream_cfg;

/* Where the trust of upstream u comes from. */
enum cs_ca_source {
	CS_CA_LIBCURL,  /* libcurl's default (the Debian build) */
	CS_CA_FILE,     /* ca_file (and ca_path, when both are set) */
	CS_CA_PATH,     /* ca_path only */
	CS_CA_PROBED,   /* a system bundle found at start (portable) */
	CS_CA_EMBEDDED, /* the bundle built in (portable) */
};

/* The source for u, and the file or directory it names ("" for
 * CS_CA_LIBCURL and CS_CA_EMBEDDED; borrowed, lives as long as u or the
 * process). */
enum cs_ca_source
cs_ca_source(const struct cs_upstream_cfg *u, const char **path);

/* Set e's CA options (peer and proxy) for u.  0, or -1 when libcurl
 * refused one. */
int cs_ca_apply(CURL *e, const struct cs_upstream_cfg *u);

/* One line for --check-config: "ca_file /etc/x.pem", "system bundle
 * /etc/pki/tls/certs/ca-bundle.crt (probed)", "embedded (N bytes, Debian
 * ca-certificates V)", "libcurl's default". */
void cs_ca_describe(const struct cs_upstream_cfg *u, char *out, size_t len);

/* Is this the portable build (a bundle embedded)? */
int cs_ca_portable(void);

#endif
