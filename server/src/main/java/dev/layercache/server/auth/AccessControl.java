package dev.layercache.server.auth;

import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.RegistryException;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * Authentication and authorization for both surfaces, in one place: who a request comes from,
 * and whether that identity may do an action in a namespace. A request without credentials is
 * {@link Identity#ANONYMOUS}; refusing it is {@code 401} with a challenge (gRPC:
 * {@code UNAUTHENTICATED}), refusing a known identity is {@code 403} (gRPC:
 * {@code PERMISSION_DENIED}), as the OCI spec and gRPC's status codes say.
 *
 * <p>Threads: {@link #authenticate(String, InetAddress)} answers at once, on the caller's thread,
 * whatever needs no bcrypt check (no credentials, tokens, credentials checked before); the
 * checks themselves run on a pool of their own ({@link Verifier}). Callers still call it off the
 * event loops: it looks at the credential files' times every two seconds. Everything else here
 * is arithmetic on what is in memory.
 */
public final class AccessControl {
    /** The embedded default: no credentials asked, everything allowed. */
    public static final AccessControl OPEN = new AccessControl(null, null, false);

    /** What {@code WWW-Authenticate} says; docker, buildah, skopeo and BuildKit answer it with Basic. */
    public static final String CHALLENGE = "Basic realm=\"layercache\", charset=\"UTF-8\"";

    private final Credentials credentials;
    private final AccessRules rules;
    private final boolean anonymousRead;
    private final Verifier verifier;

    private AccessControl(Credentials credentials, AccessRules rules, boolean anonymousRead) {
        this.credentials = credentials;
        this.rules = rules;
        this.anonymousRead = anonymousRead;
        this.verifier = credentials == null ? null : new Verifier(credentials);
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
        AccessRules rules = rulesFile == null ? AccessRules.AUTHENTICATED_MAY_DO_ALL : AccessRules.read(rulesFile);
        return new AccessControl(Credentials.load(htpasswd, tokens), rules, anonymousRead);
    }

    public boolean enabled() {
        return credentials != null;
    }

    /**
     * The identity behind an {@code Authorization} header value (null or empty: anonymous) sent
     * from {@code client} (null: not known). Complete at once unless a bcrypt check is needed;
     * then completed on the verification pool. Fails with a RegistryException: UNAUTHORIZED for
     * wrong credentials, TOO_MANY_REQUESTS when the client has had too many wrong ones checked.
     */
    public CompletableFuture<Identity> authenticate(String authorization, InetAddress client) {
        if (!enabled()) {
            return CompletableFuture.completedFuture(Identity.ANONYMOUS);
        }
        Credentials.Claim claim = credentials.claim(authorization);
        if (claim == null) {
            return CompletableFuture.completedFuture(Identity.ANONYMOUS);
        }
        if (claim instanceof Credentials.Known known) {
            return CompletableFuture.completedFuture(known.identity());
        }
        if (claim instanceof Credentials.Refused refused) {
            return CompletableFuture.failedFuture(
                    new RegistryException(ErrorCode.UNAUTHORIZED, "authentication failed: " + refused.reason()));
        }
        return verifier.verify((Credentials.Unverified) claim, client);
    }

    /**
     * {@link #authenticate(String, InetAddress)}, waiting for the answer: up to a bcrypt check.
     *
     * @throws RegistryException UNAUTHORIZED when credentials are given but wrong
     */
    public Identity authenticate(String authorization) {
        try {
            return authenticate(authorization, null).join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof RuntimeException cause) {
                throw cause;
            }
            throw e;
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
