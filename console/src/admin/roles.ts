export const ROLES = ['viewer', 'moderator', 'admin'].map(id => ({ id, name: id }));
