package dev.layercache.server.auth;

import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.RegistryException;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Authentication and authorization for both surfaces, in one place: who a request comes from,
 * and whether that identity may do an action in a namespace. A request without credentials is
 * {@link Identity#ANONYMOUS}; refusing it is {@code 401} with a challenge (gRPC:
 * {@code UNAUTHENTICATED}), refusing a known identity is {@code 403} (gRPC:
 * {@code PERMISSION_DENIED}), as the OCI spec and gRPC's status codes say.
 */
public final class AccessControl {
    /** The embedded default: no credentials asked, everything allowed. */
    public static final AccessControl OPEN = new AccessControl(null, null, false);

    /** What {@code WWW-Authenticate} says; docker, buildah, skopeo and BuildKit answer it with Basic. */
    public static final String CHALLENGE = "Basic realm=\"layercache\", charset=\"UTF-8\"";

    private final Credentials credentials;
    private final Rules rules;
    private final boolean anonymousRead;

    private AccessControl(Credentials credentials, Rules rules, boolean anonymousRead) {
        this.credentials = credentials;
        this.rules = rules;
        this.anonymousRead = anonymousRead;
    }

    /**
     * Access control from the files of the configuration; {@link #OPEN} when neither an htpasswd
     * nor a tokens file is given.
     */
    public static AccessControl load(Path htpasswd, Path tokens, Path rulesFile, boolean anonymousRead)
            throws IOException {
        if (htpasswd == null && tokens == null) {
            return OPEN;
        }
        Rules rules = rulesFile == null ? Rules.AUTHENTICATED_MAY_DO_ALL : Rules.read(rulesFile);
        return new AccessControl(Credentials.load(htpasswd, tokens), rules, anonymousRead);
    }

    public boolean enabled() {
        return credentials != null;
    }

    /**
     * The identity behind an {@code Authorization} header value (null or empty: anonymous).
     *
     * @throws RegistryException UNAUTHORIZED when credentials are given but wrong
     */
    public Identity authenticate(String authorization) {
        if (!enabled()) {
            return Identity.ANONYMOUS;
        }
        try {
            Identity id = credentials.authenticate(authorization);
            return id == null ? Identity.ANONYMOUS : id;
        } catch (Credentials.Invalid e) {
            throw new RegistryException(ErrorCode.UNAUTHORIZED, "authentication failed: " + e.getMessage());
        }
    }

    /** True when {@code who} may do {@code action} in {@code namespace} (null: node-wide). */
    public boolean allows(Identity who, Action action, String namespace) {
        if (!enabled()) {
            return true;
        }
        if (who.isAnonymous() && anonymousRead && action == Action.READ) {
            return true;
        }
        return rules.allows(who, action, namespace);
    }

    /**
     * Throws unless {@code who} may do {@code action} in {@code namespace}: UNAUTHORIZED for an
     * anonymous request (so that the client sends credentials), DENIED for a known identity.
     */
    public void check(Identity who, Action action, String namespace) {
        if (allows(who, action, namespace)) {
            return;
        }
        String what = action.name().toLowerCase(java.util.Locale.ROOT)
                + (namespace == null ? " on this node" : " in " + namespace);
        if (who.isAnonymous()) {
            throw new RegistryException(ErrorCode.UNAUTHORIZED, "authentication required to " + what);
        }
        throw new RegistryException(ErrorCode.DENIED, who.name() + " may not " + what);
    }

    /**
     * Throws UNAUTHORIZED for an anonymous request when credentials are asked for: {@code GET /v2/},
     * which clients ping first, so that {@code docker login} checks the credentials it is given.
     * Anonymous pulls still work: clients go on without credentials after the challenge.
     */
    public void checkAuthenticated(Identity who) {
        if (enabled() && who.isAnonymous()) {
            throw new RegistryException(ErrorCode.UNAUTHORIZED, "authentication required");
        }
    }

    /** Throws UNAUTHORIZED for an anonymous request that no rule serves (the catalog and the metrics pages). */
    public void checkKnown(Identity who) {
        if (enabled() && who.isAnonymous() && !anonymousRead && !rules.knows(who)) {
            throw new RegistryException(ErrorCode.UNAUTHORIZED, "authentication required");
        }
    }
}
