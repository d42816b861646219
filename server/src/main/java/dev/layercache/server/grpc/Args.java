package dev.layercache.server.grpc;

import dev.layercache.server.core.Digest;
import dev.layercache.server.core.RepositoryName;

/** Request fields into value types; a bad field fails the call with INVALID_ARGUMENT naming it. */
final class Args {
    private Args() {
    }

    /** The request's namespace, which the caller must be allowed to act in (see {@link AuthInterceptor}). */
    static RepositoryName namespace(String value) {
        RepositoryName ns = FieldException.parse("namespace", () -> RepositoryName.parse(value));
        AuthInterceptor.check(ns.toString());
        return ns;
    }

    /** The name of the current call's identity (anonymous without access control). */
    static String caller() {
        dev.layercache.server.auth.Identity who = AuthInterceptor.IDENTITY.get();
        return (who == null ? dev.layercache.server.auth.Identity.ANONYMOUS : who).name();
    }

    /**
     * Whose quota the current call counts against: its identity, or for an anonymous call its
     * address (see {@link dev.layercache.server.registry.UploadService#start}).
     */
    static String client() {
        dev.layercache.server.auth.Identity who = AuthInterceptor.IDENTITY.get();
        return who == null || who.isAnonymous() ? "anonymous@" + ClientAddress.current() : who.name();
    }

    static Digest digest(String field, String value) {
        return FieldException.parse(field, () -> Digest.parse(value));
    }

    static void check(boolean condition, String field, String message) {
        if (!condition) {
            throw new FieldException(field, field + ": " + message);
        }
    }
}
