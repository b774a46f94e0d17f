export { renderDatabase } from './database.ts';
export { renderMessaging } from './messaging.ts';
export { renderCache } from './cache.ts';
