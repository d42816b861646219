package dev.layercache.server.config;

/** An invalid configuration; its message is the one line shown to the operator. */
public final class ConfigException extends Exception {
    private static final long serialVersionUID = 1L;

    public ConfigException(String message) {
        super(message);
    }
}
