export const STATUSES = ['pending', 'active', 'rejected', 'suspended'] as const;
export const GENDERS = ['male', 'female'] as const;
export const PLANS = ['free', 'plus', 'premium'] as const;

export const choices = (values: readonly string[]) => values.map(id => ({ id, name: id }));
