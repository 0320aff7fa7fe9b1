/** Errors as react-admin reads them: `message` is shown, `status` decides, `body.errors` goes onto form fields. */

export interface Problem {
    type?: string;
    title?: string;
    status?: number;
    detail?: string;
    errors?: { loc: (string | number)[]; msg: string }[];
    [key: string]: unknown;
}

export type FieldErrors = { [field: string]: string | FieldErrors };

export const CONFLICT_MESSAGE =
    'Changed by someone else since you opened it: reload to see their change, or overwrite it with yours.';

export class ApiError extends Error {
    readonly status: number;
    readonly body: Omit<Problem, 'errors'> & { errors?: FieldErrors };
    readonly problem: Problem;

    constructor(status: number, problem: Problem) {
        super(messageOf(status, problem));
        this.name = 'ApiError';
        this.status = status;
        this.problem = problem;
        const fields = status === 422 ? fieldErrors(problem) : undefined;
        this.body = { ...problem, errors: fields };
    }

    /** 409 or 412 for a write: someone else's change came first. */
    get isConflict(): boolean {
        return this.status === 412 || (this.status === 409 && !this.problem.field && !this.problem.problem);
    }
}

function messageOf(status: number, problem: Problem): string {
    if (status === 412) return CONFLICT_MESSAGE;
    const detail = problem.detail || problem.title || `HTTP ${status}`;
    if (status === 409) return `${detail} (${CONFLICT_MESSAGE})`;
    return detail;
}

/** problem+json `errors: [{loc: ["body", "profile", "bio"], msg}]` as react-admin's `{profile: {bio: msg}}`, with
 * the problem's detail as the form's root error. Query and header errors have no field: they stay in the root. */
export function fieldErrors(problem: Problem): FieldErrors {
    const errors: FieldErrors = {};
    for (const error of problem.errors ?? []) {
        const [where, ...path] = error.loc ?? [];
        if (where !== 'body' || path.length === 0) continue;
        let node = errors;
        path.slice(0, -1).forEach(part => {
            const key = String(part);
            if (typeof node[key] !== 'object') node[key] = {};
            node = node[key] as FieldErrors;
        });
        node[String(path[path.length - 1])] = error.msg;
    }
    errors.root = { serverError: problem.detail ?? problem.title ?? 'The request does not validate.' };
    return errors;
}
