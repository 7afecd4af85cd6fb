// The jest reporter of npm test (scripts/test/counts.js): jest loads a reporter as a module's
// default export.
'use strict';
module.exports = require('./counts').CountsReporter;
