/** Sign-ups per day as plain SVG bars: no chart library in the bundle. */

export interface Day {
    day: string;
    signups: number;
}

const WIDTH = 640;
const HEIGHT = 160;
const PAD = 24;

export function SignupChart({ days }: { days: Day[] }) {
    const most = Math.max(1, ...days.map(d => d.signups));
    const step = days.length ? (WIDTH - PAD) / days.length : 0;
    const total = days.reduce((sum, d) => sum + d.signups, 0);
    return (
        <svg
            viewBox={`0 0 ${WIDTH} ${HEIGHT + PAD}`}
            role="img"
            aria-label={`Sign-ups per day over ${days.length} days: ${total} in all, at most ${most} in a day`}
            style={{ width: '100%', maxWidth: WIDTH, height: 'auto' }}
        >
            <line x1={PAD} y1={HEIGHT} x2={WIDTH} y2={HEIGHT} stroke="#555" />
            <text x={0} y={12} fontSize="11" fill="#333">
                {most}
            </text>
            {days.map((d, i) => {
                const h = (d.signups / most) * (HEIGHT - 16);
                return (
                    <rect key={d.day} x={PAD + i * step + 1} y={HEIGHT - h} width={Math.max(1, step - 2)} height={h} fill="#1a4f8b">
                        <title>{`${d.day}: ${d.signups}`}</title>
                    </rect>
                );
            })}
            {days.length > 0 && (
                <>
                    <text x={PAD} y={HEIGHT + 16} fontSize="11" fill="#333">
                        {days[0].day}
                    </text>
                    <text x={WIDTH} y={HEIGHT + 16} fontSize="11" fill="#333" textAnchor="end">
                        {days[days.length - 1].day}
                    </text>
                </>
            )}
        </svg>
    );
}
