import { startWorkers } from './support/workers.js';
import { startPlugin, csiClient, processesMentioning, run } from './support/csi.js';
import { it } from 'vitest';
it('dbg', async () => {
const root='/tmp/h5dbg';
const w = await startWorkers(1,{ufs:['data=file:///tmp/h5dbg/ds']});
const p = await startPlugin({dir:root,stateDir:root+'/state'});
const c = csiClient(p.socket);
const CAP={mount:{},access_mode:{mode:'MULTI_NODE_READER_ONLY'}};
const ctx={dataset:'d',namespace:'n',workers:'static:'+w.addresses().join(','),mounts:JSON.stringify({mounts:[{name:'data',uri:'file:///tmp/h5dbg/ds'}]})};
await c.node.NodeStageVolume({volume_id:'v',staging_target_path:root+'/st',volume_capability:CAP,volume_context:ctx});
await c.node.NodePublishVolume({volume_id:'v',staging_target_path:root+'/st',target_path:root+'/t',volume_capability:CAP,readonly:true,volume_context:ctx});
const [pid]=await processesMentioning(root+'/st'); process.kill(pid,'SIGKILL');
await new Promise(r=>setTimeout(r,6000));
console.log(await run('cat',[root+'/t/data/note.txt']).catch(e=>e.message));
console.log(p.logs().split('\n').filter(l=>!l.includes('"csi call')).slice(-15).join('\n'));
console.log((await import('node:fs')).readFileSync('/proc/self/mountinfo','utf8').split('\n').filter(l=>l.includes('h5dbg')).join('\n'));
await c.node.NodeUnpublishVolume({volume_id:'v',target_path:root+'/t'});
await c.node.NodeUnstageVolume({volume_id:'v',staging_target_path:root+'/st'});
c.close(); await p.kill(); await w.stop();

}, 60000);
