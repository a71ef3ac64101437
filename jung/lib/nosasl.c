/* nosasl.c - linked into the static service executables only.
 *
 * librdkafka implements SASL PLAIN, SCRAM and OAUTHBEARER itself and uses
 * Cyrus libsasl2 only for GSSAPI (Kerberos). Debian's libsasl2.a pulls in
 * its GSSAPI and Berkeley DB plugins, and Debian ships no static Kerberos
 * or GSSAPI library, so a static link with libsasl2 is impossible. These
 * definitions replace the nine libsasl2 calls librdkafka makes: the library
 * initialises, and a GSSAPI connection fails with the message below. Every
 * other security protocol works as in the dynamic build. */
#include <sasl/sasl.h>

#define NO_GSSAPI "SASL GSSAPI (Kerberos) is not available in the static Jung services"

int sasl_client_init(const sasl_callback_t *callbacks)
{
    (void)callbacks;
    return SASL_OK; /* nothing to initialise; sasl_client_new refuses */
}

int sasl_client_new(const char *service, const char *fqdn, const char *local, const char *remote,
                    const sasl_callback_t *prompt, unsigned flags, sasl_conn_t **pconn)
{
    (void)service, (void)fqdn, (void)local, (void)remote, (void)prompt, (void)flags;
    if (pconn)
        *pconn = NULL;
    return SASL_NOMECH;
}

int sasl_client_start(sasl_conn_t *conn, const char *mechlist, sasl_interact_t **prompt,
                      const char **out, unsigned *outlen, const char **mech)
{
    (void)conn, (void)mechlist, (void)prompt, (void)out, (void)outlen, (void)mech;
    return SASL_NOMECH;
}

int sasl_client_step(sasl_conn_t *conn, const char *in, unsigned inlen, sasl_interact_t **prompt,
                     const char **out, unsigned *outlen)
{
    (void)conn, (void)in, (void)inlen, (void)prompt, (void)out, (void)outlen;
    return SASL_NOMECH;
}

void sasl_dispose(sasl_conn_t **pconn)
{
    if (pconn)
        *pconn = NULL;
}

const char *sasl_errdetail(sasl_conn_t *conn)
{
    (void)conn;
    return NO_GSSAPI;
}

const char *sasl_errstring(int err, const char *langlist, const char **outlang)
{
    (void)err, (void)langlist;
    if (outlang)
        *outlang = "en-us";
    return NO_GSSAPI;
}

int sasl_getprop(sasl_conn_t *conn, int propnum, const void **pvalue)
{
    (void)conn, (void)propnum;
    if (pvalue)
        *pvalue = NULL;
    return SASL_NOMECH;
}

int sasl_listmech(sasl_conn_t *conn, const char *user, const char *prefix, const char *sep,
                  const char *suffix, const char **result, unsigned *plen, int *pcount)
{
    (void)conn, (void)user, (void)prefix, (void)sep, (void)suffix;
    if (result)
        *result = "";
    if (plen)
        *plen = 0;
    if (pcount)
        *pcount = 0;
    return SASL_OK;
}
