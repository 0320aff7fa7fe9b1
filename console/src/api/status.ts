/** What the console knows of the servers behind the API: whether the primary (writes) is down. */

type Listener = (primaryDown: boolean) => void;

class ServerStatus {
    primaryDown = false;
    private listeners = new Set<Listener>();

    set(primaryDown: boolean): void {
        if (primaryDown === this.primaryDown) return;
        this.primaryDown = primaryDown;
        this.listeners.forEach(listener => listener(primaryDown));
    }

    subscribe(listener: Listener): () => void {
        this.listeners.add(listener);
        return () => this.listeners.delete(listener);
    }
}

export const serverStatus = new ServerStatus();
