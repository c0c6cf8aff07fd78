import { domainToASCII } from 'node:url';
const delim = /[/\\?#@:\s\u0000-\u001f\u007f]/u;
const viaUrl = (s) => { if (delim.test(s)) return ''; try { return new URL(`http://${s}`).hostname; } catch { return ''; } };
const alpha = ['a','B','z','0','9','.','-','_','%','4','1','x','n','[',']',':','/','?','#','@',' ','\t','\u00df','\u00fc','\u200d','\u00ad','\u3002','\uff0e','\u0130','\u2163','ǅ','例','💩','\u0301','|','^','<','>','"','`','{','}','*','&','=','+',',',';','!','$',"'",'(',')','~','\u0000','\u007f','\ufffd','\u0085','\u00a0','\u2028','\ud800'];
let diffs = 0;
for (let i = 0; i < 300000; i++) {
  const n = 1 + Math.floor(Math.random() * 10);
  let s = ''; for (let j = 0; j < n; j++) s += alpha[Math.floor(Math.random() * alpha.length)];
  const a = domainToASCII(s), b = viaUrl(s);
  if (a !== b) { if (diffs++ < 25) console.log(JSON.stringify(s), JSON.stringify(a), JSON.stringify(b)); }
}
console.log('diffs', diffs);
