package dev.layercache.server.metrics;

/** Which API a request came through: the {@code surface} label. */
public enum Surface {
    OCI("oci"),
    GRPC("grpc");

    private final String label;

    Surface(String label) {
        this.label = label;
    }

    public String label() {
        return label;
    }
}
