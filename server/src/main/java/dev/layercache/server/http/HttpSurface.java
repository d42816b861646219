package dev.layercache.server.http;

import java.util.concurrent.atomic.AtomicInteger;

/** What every connection of the HTTP surface shares: the route table, error mapping, listener. */
record HttpSurface(Routes routes, ErrorMapper errors, RequestListener listener, AtomicInteger activeExchanges,
                   HttpAccess access) {
}
