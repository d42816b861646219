package dev.layercache.server.analysis;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.PriorityQueue;

/** The {@code limit} largest items offered, by a weight: a bounded heap, so lists never grow. */
final class Top<T> {
    private final int limit;
    private final Comparator<T> order;
    private final PriorityQueue<T> heap;
    private long offered;

    Top(int limit, Comparator<T> order) {
        this.limit = limit;
        this.order = order;
        this.heap = new PriorityQueue<>(order);
    }

    void offer(T item) {
        offered++;
        if (heap.size() < limit) {
            heap.add(item);
        } else if (order.compare(item, heap.peek()) > 0) {
            heap.poll();
            heap.add(item);
        }
    }

    /** How many items were offered in all (kept or not). */
    long offered() {
        return offered;
    }

    /** The kept items, largest first. */
    List<T> sorted() {
        List<T> out = new ArrayList<>(heap);
        out.sort(order.reversed());
        return out;
    }
}
