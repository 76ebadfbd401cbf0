/* journeydesk portal snippet, docs/portal.md. No consent: nothing stored or sent. */
(function(w,d){"use strict";
var c=w.journeydeskPortal,S,P="journeydesk.",Q=[],T,n=0,jwt,ready,N=navigator;
if(!c||!c.endpoint||!c.key||c._on)return;c._on=1;c.dropped=0;
try{S=w.localStorage}catch(e){}
var url=c.endpoint.replace(/\/+$/,"")+"/api/v1/events";
function ok(){try{return typeof c.consent=="function"?!!c.consent():c.consent===true}catch(e){return false}}
function get(k){try{return S.getItem(P+k)}catch(e){}}
function set(k,v){try{v==null?S.removeItem(P+k):S.setItem(P+k,v)}catch(e){}}
function rid(){var a=new Uint8Array(8),s="",i=0;w.crypto.getRandomValues(a);for(;i<8;i++)s+=(a[i]+256).toString(16).slice(1);return s}
function cut(s){return[...s].slice(0,500).join("")}// code points: no half emoji
function hash(s){for(var h=5381,i=0;i<s.length;i++)h=(h*33)^s.charCodeAt(i);return(h>>>0).toString(36)}
function vid(){var v=get("vid");if(!v)set("vid",v="v-"+rid());return v}
function who(){var u=c.user||{},r={anonymous_id:vid()};
 if(u.email)r.email=u.email;if(u.external_id)r.external_id=String(u.external_id);if(u.hmac)r.hmac=u.hmac;
 if(c.zendeskJwt&&u!==c._form)r.jwt=1;// filled in when sent
 return r}
function track(type,x){if(!ok())return;
 var e={id:"e-"+rid(),type:type,occurred_at:new Date().toISOString(),customer:who()};
 for(var k in x)e[k]=x[k];Q.push(e);later(c.batchMs||300)}
function later(ms){clearTimeout(T);T=setTimeout(flush,ms)}
function start(){// the signed-in user's Help Center JWT (Zendesk)
 return ready||(ready=c.zendeskJwt?fetch("/api/v2/help_center/integration/token").then(function(r){return r.json()})
 .then(function(j){jwt=j.token},function(){}):Promise.resolve())}
function prep(l){l.forEach(function(e){if(e.customer.jwt===1){if(jwt)e.customer.jwt=jwt;else delete e.customer.jwt}});
 return JSON.stringify({events:l})}
function flush(){if(!Q.length||!ok())return;var b=Q.splice(0,100);
 start().then(function(){return fetch(url,{method:"POST",keepalive:true,body:prep(b),
  headers:{Authorization:"Bearer "+c.key,"Content-Type":"application/json"}})})
 .then(function(r){var s=r.status;if(s==429||s>499)throw r;n=0;Q.length&&later(0);
  if(s>399)c.dropped+=b.length})// 4xx: dropped, counted
 .catch(function(r){Q=b.concat(Q).slice(-200);// resent with the same ids: stored once
  var a=r&&r.headers&&+r.headers.get("Retry-After");if(++n<6)later(1e3*(a||2**n))})}
function identify(u){if(u)c.user=u;u=c.user||{};var id=u.external_id||u.email;if(!id||!ok())return;
 var t=hash(vid()+"|"+id);if(get("idf")==t)return;// once per visitor and person
 set("idf",t);track("identify",{})}
function page(){if(!ok())return;
 var p=location.pathname,q=new URLSearchParams(location.search),h,
 m=p.match(/\/hc\/(?:([a-z]{2,3}(?:-[a-z0-9]+)?)\/)?articles\/(\d+)/i)||p.match(/^(?:\/([a-z]{2}(?:-[a-z]+)?))?\/support\/solutions\/articles\/(\d+)/i);
 if(m){h=d.querySelector(".article-title,h1");
  track("article_view",{article:{id:m[2],url:location.origin+p,title:cut(((h&&h.textContent)||d.title).trim()),
   locale:(m[1]||d.documentElement.lang||"").toLowerCase()||undefined}})}
 else if(/\/search/.test(p)&&(h=q.get("query")||q.get("term")))track("search",{properties:{query:cut(h)}});
 identify()}
if(ok()){try{Q=JSON.parse(get("q"))||[]}catch(e){}}// left unsent by the last page
else set("vid"),set("idf");// no consent (now): keep nothing
set("q");
d.addEventListener("submit",function(v){// the request form names the writer
 var f=v.target,i=f.querySelector&&f.querySelector("input[type=email],input[name*=email]");
 if(!i||!i.value||!f.matches(c.requestForm||"#new_request,#new_support_ticket,.request-form"))return;
 if(!(c.user&&(c.user.email||c.user.external_id)))identify(c._form={email:i.value.trim()})},true);
w.addEventListener("pagehide",function(){if(!Q.length||!ok())return;var b=prep(Q);
 // sendBeacon sets no headers: key in the query, body as text/plain
 if(!(N.sendBeacon&&N.sendBeacon(url+"?key="+encodeURIComponent(c.key),b)))set("q",JSON.stringify(Q));Q=[]});
c.track=track;c.identify=identify;c.page=page;page();
})(window,document);
