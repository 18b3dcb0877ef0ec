/**
 * The configuration front door: etmem's INI form and virt-tier's YAML form
 * -> one validated ConfigDocument (src/config/types.ts), through one
 * schema, so both forms take the same keys and fail with the same errors
 * (docs/configuration.md).
 *
 *   text.ts            format dispatch
 *   ini.ts / yaml.ts   text -> raw sections (key = value strings + lines)
 *   sections.ts        one section -> a typed object (keys, ranges)
 *   document.ts        rules across sections
 *   task-params.ts     engine-specific task keys (also used by the model)
 *   file.ts            etmem's file checks, then the above
 *
 * Every error is a VirtTierError (OPT_INVAL; OPT_INTER_ERR where etmem
 * answers an engine or task key with it) naming the field
 * (`task[2].T`: the third [task] section), the value, the allowed range,
 * and the line; the first error in a file is reported.
 */
export { parseConfigText, formatOfPath, type ConfigFormat } from './text.js';
export { loadConfigFile, loadObjectRefs, MAX_CONFIG_FILE_BYTES } from './file.js';
export { parseObjectRefsText } from './text.js';
export { validateTaskParams, checkTaskAgainstProject, engineKindOf, type TaskParamsResult } from './task-params.js';
