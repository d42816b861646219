package dev.layercache.server.auth;

/** Who made a request: a user of the htpasswd file, the name of a token, or nobody (anonymous). */
public record Identity(String name) {
    /** A request without credentials. */
    public static final Identity ANONYMOUS = new Identity("anonymous");

    public boolean isAnonymous() {
        return this.equals(ANONYMOUS);
    }
}
