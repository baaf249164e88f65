export { describeError, isConflict, isInvalid, isNotFound, statusCode } from '../../lib/kube-errors.js';
