import { useEffect } from 'react';

/** react-admin's row checkboxes put their "Select this row" label on MUI's wrapping span (DatagridRow passes
 * `aria-label` to Checkbox, which spreads it onto its root), where ARIA forbids it and the checkbox itself is left
 * unnamed (axe: aria-prohibited-attr, serious). Move the label onto the input, wherever a list renders one. */
export function useRowCheckboxLabels(): void {
    useEffect(() => {
        function relabel() {
            document.querySelectorAll<HTMLElement>('span.select-item[aria-label]').forEach(span => {
                const input = span.querySelector('input');
                if (!input) return;
                input.setAttribute('aria-label', span.getAttribute('aria-label') ?? 'Select this row');
                span.removeAttribute('aria-label');
            });
        }
        relabel();
        const observer = new MutationObserver(relabel);
        observer.observe(document.body, { childList: true, subtree: true });
        return () => observer.disconnect();
    }, []);
}
