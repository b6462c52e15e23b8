/* version.h — chatstream --version: what was built, and from what. */
#ifndef CS_VERSION_H
#define CS_VERSION_H

#include <stdio.h>

/* The version, how the binary was built (the Debian build on shared
 * libraries, or the portable static one) and the versions of the
 * libraries it runs on, to out.  Nothing secret, nothing of the config. */
void cs_version_print(FILE *out);

#endif
