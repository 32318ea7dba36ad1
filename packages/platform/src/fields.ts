// The request-field helpers live with the message contracts (an API field and
// the message it becomes share one declaration); every service finds them here.
export { codePoints, partialChange, text, trimmedText, UUID_PATTERN } from '@shop/contracts';
