package dev.layercache.client.internal;

import io.grpc.EquivalentAddressGroup;
import io.grpc.NameResolver;
import io.grpc.NameResolverProvider;
import io.grpc.NameResolverRegistry;
import io.grpc.Status;
import io.grpc.StatusOr;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.URI;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * A name resolver for a fixed list of {@code host:port} targets, so that one channel balances
 * over several nodes (round robin). Host names are resolved once, when the channel asks.
 */
public final class StaticTargets extends NameResolverProvider {
    public static final String SCHEME = "layercache-static";

    private final List<HostPort> targets;

    private StaticTargets(List<HostPort> targets) {
        this.targets = List.copyOf(targets);
    }

    /** A registry holding only this resolver, and the channel target that selects it. */
    public static NameResolverRegistry registry(List<HostPort> targets) {
        NameResolverRegistry registry = new NameResolverRegistry();
        registry.register(new StaticTargets(targets));
        return registry;
    }

    public static String target() {
        return SCHEME + ":///targets";
    }

    @Override
    protected boolean isAvailable() {
        return true;
    }

    @Override
    protected int priority() {
        return 5;
    }

    @Override
    public String getDefaultScheme() {
        return SCHEME;
    }

    @Override
    public Collection<Class<? extends SocketAddress>> getProducedSocketAddressTypes() {
        return List.of(InetSocketAddress.class);
    }

    @Override
    public NameResolver newNameResolver(URI targetUri, NameResolver.Args args) {
        if (!SCHEME.equals(targetUri.getScheme())) {
            return null;
        }
        return new NameResolver() {
            private Listener2 listener;

            @Override
            public String getServiceAuthority() {
                return targets.get(0).toString();
            }

            @Override
            public void start(Listener2 listener) {
                this.listener = listener;
                resolve();
            }

            @Override
            public void refresh() {
                resolve();
            }

            private void resolve() {
                List<EquivalentAddressGroup> groups = new ArrayList<>();
                for (HostPort t : targets) {
                    InetSocketAddress address = new InetSocketAddress(t.host(), t.port());
                    if (!address.isUnresolved()) {
                        groups.add(new EquivalentAddressGroup(address));
                    }
                }
                StatusOr<List<EquivalentAddressGroup>> addresses = groups.isEmpty()
                        ? StatusOr.fromStatus(Status.UNAVAILABLE.withDescription("no target resolves: " + targets))
                        : StatusOr.fromValue(groups);
                listener.onResult2(ResolutionResult.newBuilder().setAddressesOrError(addresses).build());
            }

            @Override
            public void shutdown() {
            }
        };
    }

    /** A {@code host:port} target; IPv6 hosts in brackets. */
    public record HostPort(String host, int port) {
        public static HostPort parse(String text) {
            String t = text.trim();
            int colon = t.lastIndexOf(':');
            if (colon <= 0 || colon == t.length() - 1) {
                throw new IllegalArgumentException("a target is host:port, not \"" + text + "\"");
            }
            String host = t.substring(0, colon);
            if (host.startsWith("[") && host.endsWith("]")) {
                host = host.substring(1, host.length() - 1);
            } else if (host.contains(":")) {
                throw new IllegalArgumentException("an IPv6 target is [address]:port, not \"" + text + "\"");
            }
            int port;
            try {
                port = Integer.parseInt(t.substring(colon + 1));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("a target is host:port, not \"" + text + "\"");
            }
            if (port < 1 || port > 65535 || host.isEmpty()) {
                throw new IllegalArgumentException("a target is host:port with a port in 1..65535, not \"" + text + "\"");
            }
            return new HostPort(host, port);
        }

        @Override
        public String toString() {
            return host.contains(":") ? "[" + host + "]:" + port : host + ":" + port;
        }
    }
}
