package dev.layercache.server.http;

import dev.layercache.server.auth.AccessControl;
import dev.layercache.server.auth.Action;
import dev.layercache.server.auth.Identity;
import dev.layercache.server.core.ErrorCode;
import dev.layercache.server.core.RegistryException;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import java.net.InetAddress;
import java.util.concurrent.CompletableFuture;

/**
 * Which action each route and method needs, checked once per request before any handler runs:
 * pulls need {@code read} in the repository, pushes {@code write}, deletions {@code delete}, and
 * the store's administration (a namespace's purge included) {@code admin}; {@code /v2/} needs credentials (when any are asked
 * for), the catalog and the metrics pages an identity some rule names (anonymous included when
 * a rule or {@code auth-anonymous-read} lets it read); the analysis of a manifest needs {@code read}
 * in its repository, the sharing report an identity some rule names (it is filtered to the
 * repositories the caller may read); health checks need nothing.
 */
final class HttpAccess {
    private final AccessControl control;
    private final dev.layercache.server.auth.RateLimits rates;

    /** Names no client may write: the mirrors of upstream registries (see {@code mirror.Mirrors}). */
    private final java.util.function.Predicate<String> readOnly;

    HttpAccess(AccessControl control, dev.layercache.server.auth.RateLimits rates) {
        this(control, rates, name -> false);
    }

    HttpAccess(AccessControl control, dev.layercache.server.auth.RateLimits rates,
               java.util.function.Predicate<String> readOnly) {
        this.control = control;
        this.rates = rates;
        this.readOnly = readOnly;
    }

    AccessControl control() {
        return control;
    }

    /**
     * The request's identity, once it may go on; failed with a RegistryException (401, 403, 429)
     * otherwise. Complete at once unless the credentials need a bcrypt check (see
     * {@link AccessControl#authenticate(String, InetAddress)}). Call it off the event loop.
     */
    CompletableFuture<Identity> admit(Request request, InetAddress client) {
        return control.authenticate(request.header(HttpHeaderNames.AUTHORIZATION), client)
                .thenApply(who -> authorize(request, who));
    }

    private Identity authorize(Request request, Identity who) {
        Route route = request.route();
        if (route.resource() != Route.Resource.HEALTHZ && route.resource() != Route.Resource.READYZ) {
            rates.take(who); // probes are never limited: a busy node must not look dead
        }
        HttpMethod method = request.method();
        boolean reading = HttpMethod.GET.equals(method) || HttpMethod.HEAD.equals(method);
        switch (route.resource()) {
            case HEALTHZ, READYZ, NOT_FOUND -> { }
            case BASE -> control.checkAuthenticated(who);
            case CATALOG, METRICS, STATS, UI -> control.checkKnown(who);
            case STORE, GC, HANDOVER, NAMESPACE -> control.check(who, Action.ADMIN, null);
            case TAGS, REFERRERS, ANALYSIS -> control.check(who, Action.READ, route.name());
            // Answers list only the repositories the caller may read (see AnalysisHandler).
            case SHARING, BUILDS -> control.checkKnown(who); // the handler checks read on the repository asked for
            case MANIFEST, BLOB -> control.check(who, reading ? Action.READ
                    : HttpMethod.DELETE.equals(method) ? Action.DELETE : Action.WRITE, route.name());
            case UPLOADS, UPLOAD -> control.check(who, Action.WRITE, route.name());
        }
        boolean writing = switch (route.resource()) {
            case MANIFEST, BLOB -> !reading;
            case UPLOADS, UPLOAD -> true;
            default -> false;
        };
        if (writing && readOnly.test(route.name())) {
            // What CNCF Distribution answers a push to a pull-through cache.
            throw new RegistryException(ErrorCode.UNSUPPORTED, route.name()
                    + " is a mirror of an upstream registry: it is read-only here");
        }
        return who;
    }
}
