package dev.layercache.client.cli;

/** The exit codes of the {@code layercache} tool, as {@code --help} lists them. */
public final class ExitCodes {
    /** Success; every lookup hit. */
    public static final int OK = 0;
    /** A cache miss, or an unknown blob, manifest or tag. */
    public static final int NOT_FOUND = 1;
    /** Invalid arguments or input. */
    public static final int INVALID = 2;
    /** The server could not be reached. */
    public static final int UNREACHABLE = 3;
    /** Any other server error. */
    public static final int SERVER = 4;
    /** A local file could not be read or written. */
    public static final int IO = 5;
    /** {@code analyze --fail-on-secrets}: the image carries secrets. */
    public static final int FINDINGS = 6;

    private ExitCodes() {
    }
}
