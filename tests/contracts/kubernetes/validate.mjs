// Validates Strimzi resources (a JSON array of objects, in the file named by the first
// argument) against the operator's CRD schemas; prints one line per object and exits 1 if
// any is invalid or of a kind the schemas do not know.
import fs from 'fs';

const objects = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
let bad = 0;
for (const object of objects) {
  const [group, version] = object.apiVersion.split('/');
  const name = `${object.kind} ${object.metadata.name}`;
  try {
    const models = await import(`@kubernetes-models/strimzi-kafka-operator/${group}/${version}`);
    if (!models[object.kind]) throw new Error(`no schema for ${object.apiVersion} ${object.kind}`);
    new models[object.kind](object).validate();
    console.log(`valid: ${name}`);
  } catch (error) {
    bad += 1;
    console.log(`invalid: ${name}: ${error.message}`);
  }
}
process.exit(bad ? 1 : 0);
