package dev.layercache.server.http;

/** Handles a request whose body is empty or small enough to buffer (at most the manifest limit). */
@FunctionalInterface
public interface Endpoint {
    Response handle(Request request) throws Exception;
}
