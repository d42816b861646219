package dev.layercache.server.node;

import java.net.BindException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;

/**
 * Listening addresses as people write them ({@code 0.0.0.0:5000}, {@code [::]:5000}, not Java's
 * {@code /[0:0:0:0:0:0:0:0]:5000}), and a failure to listen said as what happened and what to do.
 */
public final class ListenAddresses {
    private ListenAddresses() {
    }

    /**
     * {@code host:port} of the configured address: the text the user wrote when it is an address
     * literal (so {@code 0.0.0.0} stays {@code 0.0.0.0} though the socket is dual-stack), IPv6 in
     * brackets and compressed.
     */
    public static String format(String bindAddress, int port) {
        String host = bindAddress;
        if (host.contains(":")) {
            try {
                host = "[" + compress(InetAddress.getByName(host)) + "]";
            } catch (UnknownHostException e) {
                host = "[" + host + "]";
            }
        }
        return host + ":" + port;
    }

    /** The shortest form of an IPv6 address ({@code ::}, {@code ::1}, {@code fd00::5}); others unchanged. */
    static String compress(InetAddress address) {
        String text = address.getHostAddress();
        if (!(address instanceof Inet6Address)) {
            return text;
        }
        int scope = text.indexOf('%');
        String suffix = scope < 0 ? "" : text.substring(scope);
        String[] groups = (scope < 0 ? text : text.substring(0, scope)).split(":");
        // RFC 5952: the longest run of two or more zero groups becomes "::", the first if tied.
        int bestStart = -1;
        int bestLength = 1;
        for (int i = 0; i < groups.length; ) {
            int j = i;
            while (j < groups.length && groups[j].matches("0+")) {
                j++;
            }
            if (j - i > bestLength) {
                bestStart = i;
                bestLength = j - i;
            }
            i = j == i ? i + 1 : j;
        }
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < groups.length; i++) {
            if (i == bestStart) {
                out.append("::");
                i += bestLength - 1;
                continue;
            }
            if (out.length() > 0 && out.charAt(out.length() - 1) != ':') {
                out.append(':');
            }
            out.append(groups[i].replaceFirst("^0+(?=.)", ""));
        }
        return out + suffix;
    }

    /** True when {@code bindAddress} can be reached only from this machine. */
    public static boolean isLoopbackOnly(String bindAddress) {
        try {
            return InetAddress.getByName(bindAddress).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }

    /**
     * {@code failure} of listening on {@code port}, set by {@code setting} ({@code http-port}),
     * said as what happened and what to do; the original when it is none of the known causes.
     */
    public static Exception explain(Exception failure, String bindAddress, int port, String setting) {
        for (Throwable t = failure; t != null; t = t.getCause()) {
            String m = String.valueOf(t.getMessage());
            if (m.contains("Address already in use") || m.contains("error(-98)")) {
                return new BindException("port " + port + " (" + setting + ") is in use: another process listens"
                        + " there; choose another with --" + setting);
            }
            if (m.contains("Permission denied") || m.contains("error(-13)")) {
                return new BindException("port " + port + " (" + setting + ") needs privileges to listen on: choose"
                        + " one above 1023 with --" + setting);
            }
            if (m.contains("Cannot assign requested address") || m.contains("error(-99)")) {
                return new BindException("address " + bindAddress + " (bind-address) is not an address of this"
                        + " machine: choose one with --bind-address (0.0.0.0 for all, 127.0.0.1 for this machine only)");
            }
        }
        return failure;
    }
}
