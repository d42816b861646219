/**
 * Implementation of the client: gRPC plumbing, conversions, retries and transfers. Not an API:
 * anything here may change without notice; use {@link dev.layercache.client}.
 */
package dev.layercache.client.internal;
